/**
 * The package version, as in package.json. Kept as a constant (not read from package.json at run
 * time) so the core stays free of Node built-ins and bundles for browsers; `test/version.test.ts`
 * fails when it drifts from package.json, so bump both together.
 */
export const PACKAGE_VERSION = '0.7.0';
