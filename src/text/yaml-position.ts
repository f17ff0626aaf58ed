// Where in a YAML (or JSON) document a validation problem is, as `line:col`, from the `yaml`
// package's own positions: the deepest node of the problem's path that exists, so a missing key
// is reported where its parent is. Shared by every file format callsim validates with zod.
import { isMap, isNode, isScalar, type Document, type LineCounter } from 'yaml';

export function yamlPosition(doc: Document, counter: LineCounter, path: ReadonlyArray<PropertyKey>): string {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) {
      const { line, col } = counter.linePos(node.range[0]);
      return `${line}:${col}`;
    }
  }
  return '1:1';
}

/** Where the key `key` of the mapping at `parent` is written (an unknown key is reported at itself, not at its value). */
export function yamlKeyPosition(doc: Document, counter: LineCounter, parent: ReadonlyArray<PropertyKey>, key: string): string {
  const map = parent.length === 0 ? doc.contents : doc.getIn(parent as unknown[], true);
  if (isMap(map)) {
    const pair = map.items.find((item) => isScalar(item.key) && item.key.value === key);
    if (pair !== undefined && isScalar(pair.key) && pair.key.range) {
      const { line, col } = counter.linePos(pair.key.range[0]);
      return `${line}:${col}`;
    }
  }
  return yamlPosition(doc, counter, [...parent, key]);
}
