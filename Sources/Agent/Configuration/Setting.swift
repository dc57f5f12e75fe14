import DeviceID
import FoundationEssentials
import YAML

/// Where a setting's text came from. Every problem names it: `agent.yaml:7`,
/// `FIELDAGENT_HUB_PORT` or `--hub`.
public enum SettingOrigin: Sendable, Equatable, CustomStringConvertible {
    /// A configuration file, at a line (1-based).
    case file(path: String, line: Int)
    case environment(variable: String)
    case flag(String)

    public var description: String {
        switch self {
        case .file(let path, let line): "\(path):\(line)"
        case .environment(let variable): variable
        case .flag(let flag): flag
        }
    }
}

/// One source of settings, lowest first: defaults < file < environment < flags. Holds text by key
/// path (`hub.port`), each with its origin, plus the problems met reading the source itself.
public struct SettingLayer: Sendable, Equatable {
    /// One value: its key path, its text as given, and where it was given.
    public struct Entry: Sendable, Equatable {
        public var path: String
        public var text: String
        public var origin: SettingOrigin
    }

    /// In the order the source gave them (document order for a file).
    public private(set) var entries: [Entry] = []
    /// Not valid YAML, an unknown key, a mapping where text belongs, an unreadable file.
    public private(set) var issues: [ConfigIssue] = []

    public init() {}

    public subscript(path: String) -> Entry? { entries.last { $0.path == path } }

    public mutating func set(_ path: String, _ text: String, origin: SettingOrigin) {
        entries.append(Entry(path: path, text: text, origin: origin))
    }

    /// `FIELDAGENT_` and the key path in capitals, dots as underscores: `hub.port` → `FIELDAGENT_HUB_PORT`.
    public static func environmentVariable(for path: String) -> String {
        "FIELDAGENT_" + path.uppercased().replacing(".", with: "_")
    }

    /// The variables among `environment` that name a known key.
    public static func environment(_ environment: [String: String], known: [SettingDescription]) -> SettingLayer {
        var layer = SettingLayer()
        for key in known {
            let variable = environmentVariable(for: key.path)
            if let text = environment[variable] { layer.set(key.path, text, origin: .environment(variable: variable)) }
        }
        return layer
    }

    /// Flag values (`--hub` → `myhub:8883`) for the keys that have that flag; others are left out.
    public static func flags(_ values: [(flag: String, text: String)], known: [SettingDescription]) -> SettingLayer {
        var layer = SettingLayer()
        for (flag, text) in values {
            guard let key = known.first(where: { $0.flag == flag }) else { continue }
            layer.set(key.path, text, origin: .flag(flag))
        }
        return layer
    }

    /// A YAML file of nested mappings whose leaves are the known key paths.
    public static func file(_ path: String, known: [SettingDescription]) -> SettingLayer {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            var layer = SettingLayer()
            layer.issues = [ConfigIssue(file: path, field: "-", message: "cannot read the file (does it exist, and may this user read it?)")]
            return layer
        }
        return yaml(text, path: path, known: known)
    }

    /// Reads every value with its line; an unknown key is reported with the keys known at its level.
    public static func yaml(_ text: String, path: String, known: [SettingDescription]) -> SettingLayer {
        var layer = SettingLayer()
        let root: YAMLNode?
        do {
            root = try YAMLNode.parse(text)
        } catch {
            layer.issues = [ConfigIssue(file: "\(path):\(error.mark.line)", field: "-", message: "not valid YAML: \(error.problem)")]
            return layer
        }
        let reader = NodeReader(file: path)
        let paths = known.map(\.path)
        func walk(_ node: YAMLNode, prefix: String) {
            let below = paths.filter { prefix.isEmpty || $0.hasPrefix(prefix + ".") }.map { prefix.isEmpty ? $0 : String($0.dropFirst(prefix.count + 1)) }
            var names: [String] = []
            for name in below.map({ String($0.prefix { $0 != "." }) }) where !names.contains(name) { names.append(name) }
            guard let mapping = node.mapping else {
                reader.issue(node, prefix.isEmpty ? "(top level)" : prefix, "expected a mapping (key: value lines)")
                return
            }
            for (keyNode, value) in mapping {
                guard let name = keyNode.string else { continue }
                let full = prefix.isEmpty ? name : prefix + "." + name
                if paths.contains(full) {
                    guard let scalar = value.scalar, !scalar.string.isEmpty else {
                        reader.issue(value, full, "expected text")
                        continue
                    }
                    layer.set(full, scalar.string, origin: .file(path: path, line: value.mark.line))
                } else if names.contains(name) {
                    walk(value, prefix: full)
                } else {
                    reader.issue(keyNode, full, "unknown field; expected one of \(names.joined(separator: ", "))")
                }
            }
        }
        if let root { walk(root, prefix: "") }
        layer.issues = reader.issues
        return layer
    }
}

/// The layers of one run, lowest precedence first; the highest layer with a key wins.
public struct SettingLayers: Sendable {
    public var layers: [SettingLayer]

    public init(_ layers: [SettingLayer]) { self.layers = layers }

    public func winner(_ path: String) -> SettingLayer.Entry? {
        layers.reversed().lazy.compactMap { $0[path] }.first
    }

    /// Every problem at once: what each source could not read, every value that does not fit its
    /// key (even one a higher layer overrides: a broken file is broken), and every required key
    /// no layer gives. A file's problems come in line order.
    public func issues(keys: [SettingDescription], required: [Requirement] = []) -> [ConfigIssue] {
        var issues: [ConfigIssue] = []
        for layer in layers {
            var found: [(line: Int, issue: ConfigIssue)] = layer.issues.map { (Self.line(of: $0.file), $0) }
            for entry in layer.entries {
                guard let key = keys.first(where: { $0.path == entry.path }),
                      let problem = key.check(entry.text, entry.origin) else { continue }
                var line = Int.max
                if case .file(_, let l) = entry.origin { line = l }
                found.append((line, ConfigIssue(file: entry.origin.description, field: entry.path, message: problem)))
            }
            // Stable: at one line, a structural problem stays before a value's.
            issues += found.enumerated().sorted { ($0.element.line, $0.offset) < ($1.element.line, $1.offset) }.map(\.element.issue)
        }
        for requirement in required where winner(requirement.path) == nil {
            guard let key = keys.first(where: { $0.path == requirement.path }) else { continue }
            let ways = [key.flag, SettingLayer.environmentVariable(for: key.path), "\(key.path) in the configuration file"].compactMap { $0 }
            issues.append(ConfigIssue(file: "settings", field: key.path, message: "missing (\(requirement.reason)); give \(ways.joined(separator: ", or "))"))
        }
        return issues
    }

    private static func line(of location: String) -> Int {
        location.split(separator: ":").last.flatMap { Int($0) } ?? 0
    }
}

/// A key that must have a value, and why (for the message).
public struct Requirement: Sendable, Equatable {
    public var path: String
    public var reason: String
    public init(_ path: String, _ reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// What a value must look like: its type and range as documented, how its text is read (the
/// origin says which folder a relative path belongs to), and how a default is written.
public struct SettingKind<Value: Sendable>: Sendable {
    public var type: String
    public var range: String
    public var parse: @Sendable (String, SettingOrigin) -> Result<Value, SettingProblem>
    public var format: @Sendable (Value) -> String

    public init(type: String, range: String = "", parse: @escaping @Sendable (String, SettingOrigin) -> Result<Value, SettingProblem>,
                format: @escaping @Sendable (Value) -> String) {
        self.type = type
        self.range = range
        self.parse = parse
        self.format = format
    }
}

/// Why a text is not a value of its key ("'x' is not a number").
public struct SettingProblem: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

extension SettingKind where Value == Duration {
    /// `30s`, `5m`, `1h30m`, `250ms` or ISO 8601 (`PT30S`).
    public static func duration(_ range: ClosedRange<Duration>) -> Self {
        let bounds = "\(DurationText.format(range.lowerBound)) … \(DurationText.format(range.upperBound))"
        return Self(type: "duration", range: bounds, parse: { text, _ in
            do {
                let value = try DurationText.parse(text)
                return range.contains(value) ? .success(value) : .failure(SettingProblem("\(text) is out of range \(bounds)"))
            } catch {
                return .failure(SettingProblem("\(error)"))
            }
        }, format: DurationText.format)
    }
}

extension SettingKind where Value == Double {
    public static func number(_ range: ClosedRange<Double>) -> Self {
        let bounds = "\(formatNumber(range.lowerBound)) … \(formatNumber(range.upperBound))"
        return Self(type: "number", range: bounds, parse: { text, _ in
            guard let value = Double(text), value.isFinite else { return .failure(SettingProblem("'\(text)' is not a number")) }
            return range.contains(value) ? .success(value) : .failure(SettingProblem("\(text) is out of range \(bounds)"))
        }, format: formatNumber)
    }

    /// `50`, not `50.0`.
    static func formatNumber(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}

extension SettingKind where Value == Int {
    public static func integer(_ range: ClosedRange<Int>) -> Self {
        Self(type: "integer", range: "\(range.lowerBound) … \(range.upperBound)", parse: { text, _ in
            guard let value = Int(text) else { return .failure(SettingProblem("'\(text)' is not a whole number")) }
            return range.contains(value) ? .success(value)
                : .failure(SettingProblem("\(value) is out of range \(range.lowerBound)…\(range.upperBound)"))
        }, format: { String($0) })
    }

    /// `512KB`, `64MB`, `1GB` or a number of bytes.
    public static func byteSize(minimum: Int) -> Self {
        Self(type: "size", range: "at least \(ByteSize.format(minimum))", parse: { text, _ in
            guard let bytes = ByteSize.parse(text), bytes >= minimum else {
                return .failure(SettingProblem("'\(text)' is not a size of at least \(ByteSize.format(minimum)); write e.g. 512KB, 64MB or 1GB"))
            }
            return .success(bytes)
        }, format: ByteSize.format)
    }
}

extension SettingKind where Value == String {
    /// Any non-empty text.
    public static var text: Self {
        Self(type: "text", parse: { text, _ in text.isEmpty ? .failure(SettingProblem("expected text")) : .success(text) },
             format: { $0 })
    }

    /// A file or folder. In a configuration file a relative path is relative to that file; given
    /// as a flag or in the environment, to the working directory.
    public static var path: Self {
        Self(type: "path", parse: { text, origin in
            guard !text.isEmpty else { return .failure(SettingProblem("expected a path")) }
            guard case .file(let file, _) = origin, !text.hasPrefix("/"), let slash = file.lastIndex(of: "/") else { return .success(text) }
            return .success(String(file[..<slash]) + "/" + text)
        }, format: { $0 })
    }

    /// A ``path`` made absolute against the working directory (the outbox wants one).
    public static var absolutePath: Self {
        Self(type: "path", parse: { text, origin in
            path.parse(text, origin).map { $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0 }
        }, format: { $0 })
    }

    /// IoT Hub's device-id rule (``DeviceIDRule``).
    public static var deviceID: Self {
        Self(type: "device id", range: "1 … \(DeviceIDRule.maximumLength) of A–Z a–z 0–9 \(DeviceIDRule.punctuation.map(String.init).joined(separator: " "))",
             parse: { text, _ in
                 DeviceIDRule.problem(text).map { .failure(SettingProblem("'\(text.prefix(DeviceIDRule.maximumLength))' is not a valid IoT Hub device id: \($0)")) }
                     ?? .success(text)
             }, format: { $0 })
    }
}

extension SettingKind where Value: RawRepresentable & CaseIterable, Value.RawValue == String {
    /// One of the type's cases, by name.
    public static var choice: Self {
        let names = Value.allCases.map(\.rawValue)
        return Self(type: "one of", range: names.joined(separator: ", "), parse: { text, _ in
            Value(rawValue: text).map { .success($0) }
                ?? .failure(SettingProblem("'\(text.prefix(64))' is not one of \(names.joined(separator: ", "))"))
        }, format: \.rawValue)
    }
}

/// One row of the key table: what docs/configuration.md says about a key, and its check.
public struct SettingDescription: Sendable {
    /// The YAML path, `hub.port`.
    public let path: String
    /// The `fieldagent run` flag, if there is one.
    public let flag: String?
    public let type: String
    /// The value in force when no layer gives one, as it would be written.
    public let defaultText: String
    public let range: String
    public let summary: String
    /// The problem with `text` from `origin`, or nil.
    public let check: @Sendable (String, SettingOrigin) -> String?

    public var environmentVariable: String { SettingLayer.environmentVariable(for: path) }
}

/// A key of one configuration section: its row in the table and where its value goes.
public struct SettingKey<Section: SettingsSection>: Sendable {
    public let description: SettingDescription
    let assign: @Sendable (inout Section, SettingLayer.Entry) -> Void
    /// The value in force in a section, as it would be written (nil: none).
    public let text: @Sendable (Section) -> String?

    /// A key whose default is the section's initial value.
    public init<Value>(_ path: String, _ field: WritableKeyPath<Section, Value> & Sendable, _ kind: SettingKind<Value>,
                       flag: String? = nil, _ summary: String) {
        description = SettingDescription(path: path, flag: flag, type: kind.type, defaultText: kind.format(Section()[keyPath: field]),
                                         range: kind.range, summary: summary,
                                         check: { text, origin in
                                             if case .failure(let problem) = kind.parse(text, origin) { problem.message } else { nil }
                                         })
        assign = { section, entry in
            if case .success(let value) = kind.parse(entry.text, entry.origin) { section[keyPath: field] = value }
        }
        text = { section in kind.format(section[keyPath: field]) }
    }

    /// A key with no value until one is given; `absent` says what happens then.
    public init<Value>(_ path: String, _ field: WritableKeyPath<Section, Value?> & Sendable, _ kind: SettingKind<Value>,
                       flag: String? = nil, absent: String, _ summary: String) {
        description = SettingDescription(path: path, flag: flag, type: kind.type, defaultText: absent, range: kind.range, summary: summary,
                                         check: { text, origin in
                                             if case .failure(let problem) = kind.parse(text, origin) { problem.message } else { nil }
                                         })
        assign = { section, entry in
            if case .success(let value) = kind.parse(entry.text, entry.origin) { section[keyPath: field] = value }
        }
        text = { section in section[keyPath: field].map(kind.format) }
    }
}

/// A configuration section: a feature's settings, each field with its key. The initial values
/// are the defaults.
public protocol SettingsSection: Sendable, Equatable {
    init()
    static var keys: [SettingKey<Self>] { get }
    /// Keys that become required by what the layers give (a hub host needs a certificate).
    static func requirements(_ layers: SettingLayers) -> [Requirement]
}

extension SettingsSection {
    public static func requirements(_ layers: SettingLayers) -> [Requirement] { [] }

    public static var descriptions: [SettingDescription] { keys.map(\.description) }

    /// Each key's path and the value in force, in key order (nil: none given).
    public var values: [(path: String, text: String?)] { Self.keys.map { ($0.description.path, $0.text(self)) } }

    /// The section with each key's value in force. Check ``SettingLayers/issues(keys:required:)``
    /// first: a value that does not fit its key leaves the default here.
    public init(_ layers: SettingLayers) {
        self.init()
        for key in Self.keys {
            if let entry = layers.winner(key.description.path) { key.assign(&self, entry) }
        }
    }
}

/// Sizes as people write them: `512KB`, `64MB`, `1GB`, `1048576` (bytes; powers of 1024).
public enum ByteSize {
    public static func parse(_ text: String) -> Int? {
        let units: [(String, Int)] = [("KB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("B", 1)]
        let upper = text.uppercased().replacing(" ", with: "")
        for (suffix, factor) in units where upper.hasSuffix(suffix) {
            guard let number = Double(upper.dropLast(suffix.count)), number > 0, number * Double(factor) < 1e15 else { return nil }
            return Int(number * Double(factor))
        }
        return Int(upper).flatMap { $0 > 0 ? $0 : nil }
    }

    /// The largest unit that divides the size: `128MB`, `64KB`, `1000B`.
    public static func format(_ bytes: Int) -> String {
        for (suffix, factor) in [("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)] where bytes >= factor && bytes % factor == 0 {
            return "\(bytes / factor)\(suffix)"
        }
        return "\(bytes)B"
    }
}
