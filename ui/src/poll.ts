/**
 * The refresh Poll every model uses: a steady interval that backs off (up to `max`) while the
 * server fails, and stands by while the page or the model's view is hidden.
 */
import { Poll } from '@lumino/polling';

/** Whether the view that shows a model is visible (the model's polls stand by otherwise). */
export type Visibility = () => boolean;

export function refreshPoll(options: {
  name: string;
  factory: () => Promise<void>;
  interval: number;
  max: number;
  visible?: Visibility;
  auto?: boolean;
}): Poll {
  const visible = options.visible ?? (() => true);
  return new Poll({
    auto: options.auto ?? true,
    factory: options.factory,
    frequency: { interval: options.interval, backoff: true, max: options.max },
    name: options.name,
    standby: () => !visible() || 'when-hidden'
  });
}
