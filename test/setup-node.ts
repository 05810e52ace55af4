// Tests run the library as Node users get it from the Node entry (`pcl-defense/node`): with the
// file-system bundle store registered, so paths and file:// URLs resolve. Tests that import only
// core modules still see exactly the core's behaviour otherwise.
import { registerFileSystemStore } from '../src/io/store/node-fs.js';

registerFileSystemStore();
