import type { MessagingService } from '../services/messaging.js';
import type { Metrics } from './metrics.js';

/**
 * Counts messages as they are stored, whichever edge sent them (REST or a WebSocket frame):
 * the count sits on the service, not on a route. Idempotent replays are not new messages.
 */
export function instrumentMessaging(
  service: MessagingService,
  metrics: Pick<Metrics, 'messageSent'>,
): MessagingService {
  return {
    ...service,
    async send(callerId, input) {
      const result = await service.send(callerId, input);
      if (result.created) metrics.messageSent(result.message.groupId === null ? 'direct' : 'group');
      return result;
    },
  };
}
