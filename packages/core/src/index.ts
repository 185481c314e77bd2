import { VERSION } from '@antt/packet';
export const X = VERSION;
