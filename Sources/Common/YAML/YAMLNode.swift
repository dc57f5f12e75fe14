/// Where a node or a problem starts in the text: 1-based line and column.
public struct YAMLMark: Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "line \(line), column \(column)" }
}

/// A scalar as written: its text (never resolved to a bool or number; readers decide what a text
/// means for their field), how it was quoted, and its explicit tag if it had one.
public struct YAMLScalar: Sendable, Equatable {
    public enum Style: Sendable, Equatable {
        case plain, singleQuoted, doubleQuoted, literal, folded
    }

    public var string: String
    public var style: Style
    /// The full tag (`tag:yaml.org,2002:str` for `!!str`), nil when none was written.
    public var tag: String?

    public init(_ string: String, style: Style = .plain, tag: String? = nil) {
        self.string = string
        self.style = style
        self.tag = tag
    }

    /// Written without quotes or a tag: the text a YAML resolver would read as null, a bool or a number.
    public var isPlain: Bool { style == .plain && tag == nil }
}

/// One node of a YAML document: a scalar, a mapping in document order, or a sequence, each with
/// where it starts. Aliases are resolved (an alias is its anchor's node, marked where the alias is).
public indirect enum YAMLNode: Sendable, Equatable {
    case scalar(YAMLScalar, mark: YAMLMark)
    case mapping([Pair], mark: YAMLMark)
    case sequence([YAMLNode], mark: YAMLMark)

    /// One `key: value` entry of a mapping.
    public struct Pair: Sendable, Equatable {
        public var key: YAMLNode
        public var value: YAMLNode

        public init(key: YAMLNode, value: YAMLNode) {
            self.key = key
            self.value = value
        }
    }

    public var mark: YAMLMark {
        switch self {
        case .scalar(_, let mark), .mapping(_, let mark), .sequence(_, let mark): mark
        }
    }

    public var scalar: YAMLScalar? {
        if case .scalar(let scalar, _) = self { scalar } else { nil }
    }

    /// A scalar's text; nil for a mapping or a sequence.
    public var string: String? { scalar?.string }

    /// A mapping's entries in document order; nil for a scalar or a sequence.
    public var mapping: [(key: YAMLNode, value: YAMLNode)]? {
        if case .mapping(let pairs, _) = self { pairs.map { ($0.key, $0.value) } } else { nil }
    }

    public var sequence: [YAMLNode]? {
        if case .sequence(let items, _) = self { items } else { nil }
    }

    func marked(_ mark: YAMLMark) -> YAMLNode {
        switch self {
        case .scalar(let scalar, _): .scalar(scalar, mark: mark)
        case .mapping(let pairs, _): .mapping(pairs, mark: mark)
        case .sequence(let items, _): .sequence(items, mark: mark)
        }
    }
}

/// Why a text is not a YAML document this reader accepts, and where.
public struct YAMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var mark: YAMLMark
    public var problem: String

    public init(_ mark: YAMLMark, _ problem: String) {
        self.mark = mark
        self.problem = problem
    }

    public var description: String { "\(mark): \(problem)" }
}
