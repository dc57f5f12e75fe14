internal import CYAML

extension YAMLNode {
    /// Nesting deeper than this is refused (no configuration comes near it).
    public static let maximumDepth = 64
    /// Nodes a document may have, counting each alias as the nodes it repeats, so that a few
    /// lines of nested aliases cannot stand for billions of nodes.
    public static let maximumNodes = 100_000

    /// The one document in `text` (nil when it holds none), read with libyaml.
    ///
    /// Refused with the line and column: text that is not YAML, a second document, an alias
    /// whose anchor does not come before it (or is still open), a key given twice in one mapping,
    /// nesting beyond ``maximumDepth`` and more than ``maximumNodes`` nodes.
    public static func parse(_ text: String) throws(YAMLError) -> YAMLNode? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw YAMLError(YAMLMark(line: 1, column: 1), "libyaml could not allocate a parser")
        }
        defer { yaml_parser_delete(&parser) }
        // libyaml wants a non-null buffer even for empty text: a terminator it is not shown.
        var bytes = Array(text.utf8)
        bytes.append(0)
        return try bytes.withUnsafeBufferPointer { buffer throws(YAMLError) in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count - 1)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            var builder = Builder()
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { throw Self.error(parser, bytes) }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { return builder.root }
                try builder.handle(event)
            }
        }
    }

    private static func error(_ parser: yaml_parser_t, _ bytes: [UInt8]) -> YAMLError {
        let problem = parser.problem.map { String(cString: $0) } ?? "libyaml failed"
        if parser.error == YAML_READER_ERROR {
            // The reader reports a byte offset, not a mark.
            let before = bytes.prefix(min(parser.problem_offset, bytes.count))
            let line = before.reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
            let column = before.count - (before.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0) + 1
            return YAMLError(YAMLMark(line: line, column: column), "\(problem) (byte \(parser.problem_offset))")
        }
        var text = problem
        if let context = parser.context {
            text += " (\(String(cString: context)) that started on \(mark(parser.context_mark)))"
        }
        return YAMLError(mark(parser.problem_mark), text)
    }

    fileprivate static func mark(_ mark: yaml_mark_t) -> YAMLMark {
        YAMLMark(line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }
}

private func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
    pointer.map { String(cString: $0) }
}

/// Builds the tree from libyaml's events with an explicit stack (no recursion on input depth).
private struct Builder {
    /// An open sequence or mapping; a class so appending to it does not copy its entries.
    private final class Frame {
        let isMapping: Bool
        let mark: YAMLMark
        let anchor: String?
        /// The node count before this collection, to know how many nodes an alias to it repeats.
        let nodesBefore: Int
        var items: [YAMLNode] = []
        var pairs: [YAMLNode.Pair] = []
        var key: YAMLNode?

        init(isMapping: Bool, mark: YAMLMark, anchor: String?, nodesBefore: Int) {
            self.isMapping = isMapping
            self.mark = mark
            self.anchor = anchor
            self.nodesBefore = nodesBefore
        }
    }

    private(set) var root: YAMLNode?
    private var documents = 0
    private var stack: [Frame] = []
    /// Each anchor's node and how many nodes it counts for.
    private var anchors: [String: (node: YAMLNode, nodes: Int)] = [:]
    private var nodes = 0

    mutating func handle(_ event: yaml_event_t) throws(YAMLError) {
        let mark = YAMLNode.mark(event.start_mark)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            guard documents == 1 else {
                throw YAMLError(mark, "a second document starts here; the file must hold one document")
            }
        case YAML_SCALAR_EVENT:
            let data = event.data.scalar
            let text = data.value.map { String(decoding: UnsafeBufferPointer(start: $0, count: data.length), as: UTF8.self) } ?? ""
            let style: YAMLScalar.Style = switch data.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: .literal
            case YAML_FOLDED_SCALAR_STYLE: .folded
            default: .plain
            }
            try count(1, at: mark)
            let node = YAMLNode.scalar(YAMLScalar(text, style: style, tag: string(data.tag)), mark: mark)
            if let anchor = string(data.anchor) { anchors[anchor] = (node, 1) }
            add(node)
        case YAML_ALIAS_EVENT:
            let name = string(event.data.alias.anchor) ?? ""
            guard let anchored = anchors[name] else {
                throw YAMLError(mark, "alias *\(name) names no anchor &\(name) before it (or one it is inside of)")
            }
            try count(anchored.nodes, at: mark)
            add(anchored.node.marked(mark))
        case YAML_SEQUENCE_START_EVENT:
            try open(isMapping: false, anchor: string(event.data.sequence_start.anchor), at: mark)
        case YAML_MAPPING_START_EVENT:
            try open(isMapping: true, anchor: string(event.data.mapping_start.anchor), at: mark)
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast() else { return }
            let node: YAMLNode
            if frame.isMapping {
                try Self.checkUniqueKeys(frame.pairs)
                node = .mapping(frame.pairs, mark: frame.mark)
            } else {
                node = .sequence(frame.items, mark: frame.mark)
            }
            if let anchor = frame.anchor { anchors[anchor] = (node, nodes - frame.nodesBefore) }
            add(node)
        default:
            break  // stream start/end, document end
        }
    }

    private mutating func open(isMapping: Bool, anchor: String?, at mark: YAMLMark) throws(YAMLError) {
        guard stack.count < YAMLNode.maximumDepth else {
            throw YAMLError(mark, "nested deeper than \(YAMLNode.maximumDepth) levels")
        }
        let before = nodes
        try count(1, at: mark)
        stack.append(Frame(isMapping: isMapping, mark: mark, anchor: anchor, nodesBefore: before))
    }

    private mutating func count(_ added: Int, at mark: YAMLMark) throws(YAMLError) {
        nodes += added
        guard nodes <= YAMLNode.maximumNodes else {
            throw YAMLError(mark, "more than \(YAMLNode.maximumNodes) nodes (counting what each alias repeats)")
        }
    }

    private mutating func add(_ node: YAMLNode) {
        guard let top = stack.last else {
            root = node
            return
        }
        if !top.isMapping {
            top.items.append(node)
        } else if let key = top.key {
            top.pairs.append(YAMLNode.Pair(key: key, value: node))
            top.key = nil
        } else {
            top.key = node
        }
    }

    /// A key given twice would silently lose one of its values.
    private static func checkUniqueKeys(_ pairs: [YAMLNode.Pair]) throws(YAMLError) {
        var seen: [String: YAMLMark] = [:]
        for pair in pairs {
            guard let name = pair.key.string else { continue }
            if let first = seen[name] {
                throw YAMLError(pair.key.mark, "the key '\(name)' is given twice in one mapping (first on line \(first.line))")
            }
            seen[name] = pair.key.mark
        }
    }
}
