import cassandra from 'cassandra-driver';
import type { Config } from '../config.js';
import { AppError } from '../domain/errors.js';

export type CassandraClient = cassandra.Client;
export type Row = cassandra.types.Row;

/** Executes statements with the project's defaults: prepared, configured consistency. */
export interface Db {
  readonly client: CassandraClient;
  execute(query: string, params: unknown[], options?: QueryOptions): Promise<cassandra.types.ResultSet>;
  batch(queries: Statement[], options?: QueryOptions): Promise<void>;
  /** Every row of an idempotent query, fetched page by page (never cut off at one page). */
  all(query: string, params: unknown[], options?: { fetchSize?: number }): Promise<Row[]>;
}

/** One statement of a batch: a CQL constant and its bound parameters. */
export interface Statement {
  query: string;
  params: unknown[];
}

export interface QueryOptions {
  idempotent?: boolean;
  fetchSize?: number;
  pageState?: string;
  /** Write timestamp in microseconds (USING TIMESTAMP without string building). */
  timestamp?: bigint;
  logged?: boolean;
}

const { consistencies } = cassandra.types;

/** Config names (CQL spelling) → the driver's consistency codes. */
export const CONSISTENCY_CODES: Record<Config['cassandra']['consistency'], number> = {
  ONE: consistencies.one,
  LOCAL_ONE: consistencies.localOne,
  QUORUM: consistencies.quorum,
  LOCAL_QUORUM: consistencies.localQuorum,
  EACH_QUORUM: consistencies.eachQuorum,
  ALL: consistencies.all,
};

export function createCassandraClient(config: Config['cassandra'], options: { keyspace?: boolean } = {}) {
  return new cassandra.Client({
    contactPoints: config.contactPoints,
    localDataCenter: config.localDataCenter,
    ...(options.keyspace === false ? {} : { keyspace: config.keyspace }),
    ...(config.username && config.password
      ? { credentials: { username: config.username, password: config.password } }
      : {}),
    socketOptions: { connectTimeout: 5000, readTimeout: config.requestTimeoutMs },
    queryOptions: {
      prepare: true,
      consistency: CONSISTENCY_CODES[config.consistency],
      // Lightweight transactions stay in the local data center.
      serialConsistency: consistencies.localSerial,
    },
    pooling: { coreConnectionsPerHost: { [cassandra.types.distance.local]: 2 } },
    ...(config.addressMap.size > 0 ? { policies: { addressResolution: new MappedAddresses(config.addressMap) } } : {}),
  });
}

// The driver checks `instanceof AddressTranslator`; its typings declare only the interface.
const AddressTranslator = (cassandra.policies.addressResolution as unknown as Record<string, unknown>)
  .AddressTranslator as new () => cassandra.policies.addressResolution.AddressTranslator;

/**
 * CASSANDRA_ADDRESS_MAP: the driver asks for every ring member it learns from system.peers where
 * to connect; a mapped member is reached at its mapped address, the rest as gossiped.
 */
class MappedAddresses extends AddressTranslator {
  constructor(private readonly map: ReadonlyMap<string, string>) {
    super();
  }

  override translate(address: string, port: number, callback: (endpoint: string) => void): void {
    callback(this.map.get(`${address}:${port}`) ?? `${address}:${port}`);
  }
}

/**
 * Translates driver failures at the store edge: no host, a timeout, or the coordinator's connection
 * lost mid-request means UNAVAILABLE. The last one: a Cassandra node SIGKILLed under load resets
 * its connections, and the driver fails the statements in flight on them that it may not retry
 * itself (the idempotency claim is a lightweight transaction) with a DriverError marked
 * `isSocketError`; that used to escape as a 500 INTERNAL, though a retry with the same key is
 * exactly what the client should do (the fault suite's Cassandra node kill found it).
 */
export function translateDriverError(error: unknown): unknown {
  if (error instanceof AppError) return error;
  const name = (error as { name?: string } | null)?.name ?? '';
  if (
    name === 'NoHostAvailableError' ||
    (error as { isSocketError?: boolean } | null)?.isSocketError === true ||
    name === 'OperationTimedOutError' ||
    name === 'BusyConnectionError' ||
    (error as { code?: number } | null)?.code === cassandra.types.responseErrorCodes.writeTimeout ||
    (error as { code?: number } | null)?.code === cassandra.types.responseErrorCodes.readTimeout ||
    (error as { code?: number } | null)?.code === cassandra.types.responseErrorCodes.unavailableException ||
    (error as { code?: number } | null)?.code === cassandra.types.responseErrorCodes.overloaded
  ) {
    return new AppError('UNAVAILABLE', 'The message store is unavailable; try again', { cause: error });
  }
  return error;
}

/** Told the duration of every statement (metrics). `statement` is e.g. `select messages` or `batch`. */
export type QueryObserver = (statement: string, outcome: 'ok' | 'error', seconds: number) => void;

/** `verb table` of a CQL statement: a bounded label, since the CQL is constants. */
export function statementLabel(query: string): string {
  const verb = /^\s*(\w+)/.exec(query)?.[1]?.toLowerCase() ?? 'unknown';
  const table = /\b(?:from|into|update)\s+([\w.]+)/i.exec(query)?.[1]?.toLowerCase();
  return table ? `${verb} ${table}` : verb;
}

export function createDb(client: CassandraClient, hooks: { observe?: QueryObserver } = {}): Db {
  // Statements are constants, so their labels are computed once each.
  const labels = new Map<string, string>();
  const labelOf = (query: string) => {
    let label = labels.get(query);
    if (label === undefined) {
      label = statementLabel(query);
      if (labels.size < 1000) labels.set(query, label);
    }
    return label;
  };
  const timed = async <T>(statement: () => string, run: () => Promise<T>): Promise<T> => {
    const { observe } = hooks;
    if (!observe) return run();
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const result = await run();
      observe(statement(), 'ok', seconds());
      return result;
    } catch (error) {
      observe(statement(), 'error', seconds());
      throw error;
    }
  };
  const db: Db = {
    client,
    async all(query, params, options = {}) {
      const rows: Row[] = [];
      let pageState: string | undefined;
      do {
        const result = await db.execute(query, params, {
          idempotent: true,
          fetchSize: options.fetchSize ?? 1000,
          ...(pageState ? { pageState } : {}),
        });
        rows.push(...result.rows);
        pageState = result.pageState ?? undefined;
      } while (pageState);
      return rows;
    },
    async execute(query, params, options = {}) {
      try {
        return await timed(
          () => labelOf(query),
          () =>
            client.execute(query, params, {
              prepare: true,
              ...(options.idempotent === undefined ? {} : { isIdempotent: options.idempotent }),
              ...(options.fetchSize === undefined ? {} : { fetchSize: options.fetchSize }),
              ...(options.pageState === undefined ? {} : { pageState: options.pageState }),
              ...(options.timestamp === undefined
                ? {}
                : { timestamp: cassandra.types.Long.fromString(options.timestamp.toString()) }),
            }),
        );
      } catch (error) {
        throw translateDriverError(error);
      }
    },
    async batch(queries, options = {}) {
      try {
        await timed(
          () => 'batch',
          () =>
            client.batch(queries, {
              prepare: true,
              logged: options.logged ?? true,
              ...(options.idempotent === undefined ? {} : { isIdempotent: options.idempotent }),
              ...(options.timestamp === undefined
                ? {}
                : { timestamp: cassandra.types.Long.fromString(options.timestamp.toString()) }),
            }),
        );
      } catch (error) {
        throw translateDriverError(error);
      }
    },
  };
  return db;
}

export const toDate = (ms: number): Date => new Date(ms);
/** Binds "not provided" as unset rather than null: a null write would leave a tombstone. */
export const orUnset = <T>(value: T | null | undefined): T | typeof cassandra.types.unset =>
  value == null ? cassandra.types.unset : value;
export const fromDate = (value: unknown): number => (value instanceof Date ? value.getTime() : Number(value));
export const optionalText = (value: unknown): string | null => (typeof value === 'string' ? value : null);
/** A bigint for a CQL bigint column (write timestamps in µs pass 2^53 only in the year 2255, but stay exact anyway). */
export const toLong = (value: bigint) => cassandra.types.Long.fromString(value.toString());
