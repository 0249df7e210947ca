/** A cursor over the words of an iproute2-style command line (`link add NAME type macvlan ...`). */
import { InvalidArgumentError } from '../errors.ts';

export class Words {
  private i = 0;
  constructor(private readonly w: string[]) {}
  get done(): boolean {
    return this.i >= this.w.length;
  }
  peek(): string | undefined {
    return this.w[this.i];
  }
  next(what: string): string {
    const v = this.w[this.i++];
    if (v === undefined) throw new InvalidArgumentError(what, 'a value', undefined);
    return v;
  }
  int(what: string): number {
    const s = this.next(what);
    if (!/^-?\d+$/.test(s)) throw new InvalidArgumentError(what, 'an integer', s);
    return Number(s);
  }
  onOff(what: string): boolean {
    const s = this.next(what);
    if (s !== 'on' && s !== 'off') throw new InvalidArgumentError(what, '"on" or "off"', s);
    return s === 'on';
  }
}
