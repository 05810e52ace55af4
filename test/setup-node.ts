// Tests run the library as Node users get it from the Node entry (`pcl-defense/node`): file-system
// bundle store, worker threads and terminal progress registered with the core.
import { registerNodePlatform } from '../src/node-platform.js';

registerNodePlatform();
