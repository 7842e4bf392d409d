/**
 * Extracts the bearer token from an Authorization header value. Shared by the REST middleware and
 * the WebSocket upgrade, so both accept exactly the same header forms.
 */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header ? /^Bearer\s+([A-Za-z0-9._~+/=-]+)$/i.exec(header.trim()) : null;
  return match?.[1];
}
