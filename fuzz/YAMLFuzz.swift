// libFuzzer harness for the YAML reader over libyaml (board files, agent configuration).
// Compiled with Sources/Common/YAML into one module by scripts/fuzz.sh (CYAML from
// Sources/Common/CYAML, linked with -lyaml).
//
// Properties checked (a violation traps, which libFuzzer reports as a crash):
// 1. `parse` never crashes or leaks (LeakSanitizer runs at exit), whatever the text.
// 2. An accepted document honours the bounds it promises: nesting ≤ maximumDepth, nodes ≤
//    maximumNodes (aliases counted as what they repeat), no key twice in one mapping when keys
//    are plain scalars, and every mark is 1-based.
// 3. A refusal points into the text: 1-based line and column, the line at most one past the last
//    (a refusal at the end of the stream).
// 4. Parsing is deterministic: the same text gives the same document or the same error.

@_cdecl("LLVMFuzzerTestOneInput")
public func yamlFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let first = Result { () throws(YAMLError) in try YAMLNode.parse(text) }
    let second = Result { () throws(YAMLError) in try YAMLNode.parse(text) }
    guard first == second else { fatalError("parsing the same text twice gave \(first) and \(second)") }

    switch first {
    case .success(let node?):
        var nodes = 0
        check(node, depth: 1, nodes: &nodes)
    case .success(nil):
        break
    case .failure(let error):
        // YAML breaks lines at CR, LF, CR LF, NEL, LS and PS: counting each is an upper bound.
        let lines = text.unicodeScalars.count { ["\n", "\r", "\u{85}", "\u{2028}", "\u{2029}"].contains($0) } + 1
        guard error.mark.line >= 1, error.mark.column >= 1, error.mark.line <= lines + 1 else {
            fatalError("error \(error) points outside the \(lines)-line text")
        }
    }
    return 0
}

private func check(_ node: YAMLNode, depth: Int, nodes: inout Int) {
    nodes += 1
    guard nodes <= YAMLNode.maximumNodes else { fatalError("more than \(YAMLNode.maximumNodes) nodes accepted") }
    guard depth <= YAMLNode.maximumDepth + 1 else { fatalError("nesting \(depth) accepted") }
    guard node.mark.line >= 1, node.mark.column >= 1 else { fatalError("mark \(node.mark) is not 1-based") }
    switch node {
    case .scalar:
        break
    case .sequence(let items, _):
        for item in items { check(item, depth: depth + 1, nodes: &nodes) }
    case .mapping(let pairs, _):
        let plainKeys = pairs.compactMap { $0.key.scalar?.isPlain == true ? $0.key.string : nil }
        guard Set(plainKeys).count == plainKeys.count else { fatalError("a mapping with a key twice was accepted: \(plainKeys)") }
        for pair in pairs {
            check(pair.key, depth: depth + 1, nodes: &nodes)
            check(pair.value, depth: depth + 1, nodes: &nodes)
        }
    }
}
