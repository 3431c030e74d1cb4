/** Which model pack a run used: `digest` is what makes two packs the same; other fields are kept as given. */
export interface PackIdentity {
  name: string;
  digest: string;
  [k: string]: unknown;
}
