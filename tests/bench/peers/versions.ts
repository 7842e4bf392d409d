/**
 * The pinned peer versions, in one place: a bump here builds the new one beside the old
 * (`.native/peers/centrifugo-<version>/`) and renames the report's columns.
 */
export const CENTRIFUGO_VERSION = 'v6.9.1';
