/** Moved to `defense/latent/hdda-tf.ts` (the defender publishes its differentiable surrogate); kept so existing imports work. */
export { disposeHddaTensors, hddaLogLikTensor, hddaTensors, type HddaTensors } from '../defense/latent/hdda-tf.js';
