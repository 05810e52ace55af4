import { ArgumentError } from '../errors.js';

/** commander argument parsers that reject bad values with a one-line reason naming the option. */
export function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new ArgumentError(`${name}: expected a positive integer, got '${v}'`);
    return n;
  };
}

export function nonNegativeInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new ArgumentError(`${name}: expected a non-negative integer, got '${v}'`);
    return n;
  };
}

export function positiveNumber(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new ArgumentError(`${name}: expected a positive number, got '${v}'`);
    return n;
  };
}

export function percent(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || n > 100) throw new ArgumentError(`${name}: expected a percentage in [0, 100], got '${v}'`);
    return n;
  };
}

export function list(name: string) {
  return (v: string): string[] => {
    const items = v.split(',').map((s) => s.trim()).filter(Boolean);
    if (items.length === 0) throw new ArgumentError(`${name}: expected a comma-separated list, got '${v}'`);
    return items;
  };
}
