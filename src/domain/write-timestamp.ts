let lastTimestamp = 0n;

/**
 * A Cassandra write timestamp in microseconds, strictly increasing in this process: two changes
 * of one row in one millisecond (a block then an unblock, a join then a leave) stay ordered, where
 * two equal timestamps would let Cassandra pick by cell value and undo the later change.
 */
export function writeTimestamp(): bigint {
  const now = BigInt(Date.now()) * 1000n;
  lastTimestamp = now > lastTimestamp ? now : lastTimestamp + 1n;
  return lastTimestamp;
}
