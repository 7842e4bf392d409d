/** Per-request values on the Hono context. Services come by closure, not through here. */
export interface AppEnv {
  Variables: {
    requestId: string;
    userId: string;
  };
}
