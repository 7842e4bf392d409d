/**
 * cluster-key-slot ships no types. It is the slot function ioredis itself routes commands with
 * (a dependency of ioredis, listed in package.json at the same version), so the bus computes a
 * channel's slot exactly as the client that subscribes it does.
 */
declare module 'cluster-key-slot' {
  /** The Redis Cluster hash slot (0–16383) of a key or channel, honouring `{hash tags}`. */
  export default function calculateSlot(key: string | Buffer): number;
}
