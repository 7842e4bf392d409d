import type { Metrics } from './metrics.js';

/** The part of an ioredis command the timing needs (structural: only cache/ imports ioredis). */
interface TimedCommand {
  name: string;
  promise: Promise<unknown>;
}

interface CommandSender {
  sendCommand(command: TimedCommand, ...rest: unknown[]): unknown;
}

/**
 * Times every command of an ioredis client, pipelined and auto-pipelined ones included, by
 * wrapping the client's `sendCommand` (the one path every command takes). No MONITOR, no
 * extra round trip: the clock starts when the command is handed to the client and stops when
 * its reply (or error, e.g. the command timeout) settles. Commands refused at once while Redis
 * is away are recorded as errors too, so the error rate shows outages.
 */
export function instrumentRedis<T extends object>(client: T, observe: Metrics['redis']): T {
  const sender = client as unknown as CommandSender;
  const original = sender.sendCommand.bind(sender);
  // A command can pass through sendCommand again (resent after a reconnect): time it once.
  const timed = new WeakSet<TimedCommand>();
  sender.sendCommand = (command, ...rest) => {
    if (!timed.has(command)) {
      timed.add(command);
      const started = process.hrtime.bigint();
      const done = (outcome: 'ok' | 'error') => () =>
        observe(command.name, outcome, Number(process.hrtime.bigint() - started) / 1e9);
      command.promise.then(done('ok'), done('error'));
    }
    return original(command, ...rest);
  };
  return client;
}
