/**
 * HTML that is escaped unless said otherwise: `html` is a tagged template whose interpolated values
 * are escaped text, except markup made by `html` itself (nested templates, arrays of them) and the
 * few trusted constants passed through `raw`. Keys, names and reasons come from data and may hold
 * any character; with this, forgetting to escape one takes a deliberate `raw`.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text and quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Markup the page emits as it is. Only `html` and `raw` make one. */
export class SafeHtml {
  private constructor(readonly markup: string) {}

  /** @internal */
  static of(markup: string): SafeHtml {
    return new SafeHtml(markup);
  }

  toString(): string {
    return this.markup;
  }
}

/** What a template may interpolate: text and numbers (escaped), markup, lists of them; nothing for null, undefined and false. */
export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

function render(v: HtmlValue): string {
  if (v instanceof SafeHtml) return v.markup;
  if (Array.isArray(v)) return (v as readonly HtmlValue[]).map(render).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((v, i) => (out += render(v) + strings[i + 1]!));
  return SafeHtml.of(out);
}

/** Trusted markup, as is: only for constants written in this code (the stylesheet, the page script). */
export function raw(trusted: string): SafeHtml {
  return SafeHtml.of(trusted);
}

/** Items joined by a separator (markup or text), each escaped as in a template. */
export function join(items: readonly HtmlValue[], separator: HtmlValue = ''): SafeHtml {
  return SafeHtml.of(items.map(render).join(render(separator)));
}
