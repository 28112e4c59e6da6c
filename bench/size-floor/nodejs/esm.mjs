// Child of main.js: an ES module importing CommonJS (named exports are found
// by cjs-module-lexer) and a builtin.
import { greet } from './dep.cjs';
import { createHash } from 'node:crypto';
console.log(greet('esm'), createHash('sha256').update('e').digest('hex').slice(0, 8), import.meta.url);
