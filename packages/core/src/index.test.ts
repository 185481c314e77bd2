import { expect, it } from 'vitest';
import { X } from './index.js';
it('works', () => expect(X).toBe(1));
