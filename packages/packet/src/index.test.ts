import { expect, it } from 'vitest';
import { VERSION } from './index.js';
it('works', () => expect(VERSION).toBe(1));
