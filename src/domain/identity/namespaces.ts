/** Identity namespaces: which kinds of identifier exist and how each is treated. */
export type NormalizerName = 'email' | 'phone' | 'trim' | 'lowercase';

export interface Namespace {
  code: string;
  name: string;
  normalizer: NormalizerName;
  /** 1 is the most important; higher numbers are dropped first by the graph guardrail. */
  priority: number;
  /** A unique namespace holds at most one value per profile. */
  unique: boolean;
  builtin: boolean;
  /** Other spellings accepted in identity maps (e.g. Adobe's `CRM`, `ECID`). */
  aliases: string[];
}

export const BUILTIN_NAMESPACES: readonly Namespace[] = [
  { code: 'crmId', name: 'CRM id', normalizer: 'trim', priority: 1, unique: true, builtin: true, aliases: ['crm', 'crmid'] },
  { code: 'email', name: 'Email', normalizer: 'email', priority: 2, unique: false, builtin: true, aliases: ['emails'] },
  { code: 'phone', name: 'Phone', normalizer: 'phone', priority: 3, unique: false, builtin: true, aliases: ['phones'] },
  { code: 'ecid', name: 'Experience Cloud id', normalizer: 'trim', priority: 4, unique: false, builtin: true, aliases: [] },
  { code: 'deviceId', name: 'Device id', normalizer: 'trim', priority: 5, unique: false, builtin: true, aliases: ['deviceid', 'idfa', 'gaid'] },
  { code: 'cookie', name: 'Cookie id', normalizer: 'trim', priority: 6, unique: false, builtin: true, aliases: ['cookieid'] },
];

const NAMESPACE_CODE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
export const isValidNamespaceCode = (code: string): boolean => NAMESPACE_CODE.test(code);

/** Looks namespaces up by code or alias, case-insensitively. */
export class NamespaceIndex {
  private readonly byKey = new Map<string, Namespace>();
  constructor(readonly all: readonly Namespace[]) {
    for (const ns of all) {
      this.byKey.set(ns.code.toLowerCase(), ns);
      for (const alias of ns.aliases) if (!this.byKey.has(alias.toLowerCase())) this.byKey.set(alias.toLowerCase(), ns);
    }
  }
  find(codeOrAlias: string): Namespace | undefined {
    return this.byKey.get(codeOrAlias.toLowerCase());
  }
  get(code: string): Namespace {
    const ns = this.find(code);
    if (!ns) throw new Error(`namespace ${code} is not defined`);
    return ns;
  }
}
