import DeviceID
import YAML

/// Reads typed values out of a YAML tree, recording an issue (with the line number) for every
/// problem instead of stopping at the first.
public final class NodeReader {
    public let file: String
    public private(set) var issues: [ConfigIssue] = []

    public init(file: String) {
        self.file = file
    }

    public func issue(_ node: YAMLNode?, _ field: String, _ message: String) {
        let location = node.map { "\(file):\($0.mark.line)" } ?? file
        issues.append(ConfigIssue(file: location, field: field, message: message))
    }

    /// A mapping with string keys; unknown keys are reported with the list of known ones.
    public func mapping(_ node: YAMLNode, _ field: String, keys: [String]) -> [String: YAMLNode]? {
        guard let mapping = node.mapping else {
            issue(node, field, "expected a mapping (key: value lines)")
            return nil
        }
        var result: [String: YAMLNode] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { continue }
            if keys.contains(name) {
                result[name] = value
            } else {
                issue(key, field == "(top level)" ? name : "\(field).\(name)", "unknown field; expected one of \(keys.joined(separator: ", "))")
            }
        }
        return result
    }

    public func sequence(_ node: YAMLNode, _ field: String) -> [YAMLNode]? {
        guard let sequence = node.sequence else {
            issue(node, field, "expected a list (lines starting with '- ')")
            return nil
        }
        return Array(sequence)
    }

    public func string(_ node: YAMLNode?, _ field: String, required: Bool = false) -> String? {
        guard let node else {
            if required { issue(nil, field, "missing") }
            return nil
        }
        guard let scalar = node.scalar, !scalar.string.isEmpty else {
            issue(node, field, "expected text")
            return nil
        }
        return scalar.string
    }

    /// A device id, checked against IoT Hub's rule (``DeviceIDRule``).
    public func deviceID(_ node: YAMLNode?, _ field: String, required: Bool = false) -> String? {
        guard let text = string(node, field, required: required) else { return nil }
        if let problem = DeviceIDRule.problem(text) {
            issue(node, field, "'\(text.prefix(DeviceIDRule.maximumLength))' is not a valid IoT Hub device id: \(problem)")
            return nil
        }
        return text
    }

    public func int(_ node: YAMLNode?, _ field: String, required: Bool = false, range: ClosedRange<Int>) -> Int? {
        guard let text = string(node, field, required: required) else { return nil }
        let value = text.hasPrefix("0x") || text.hasPrefix("0X") ? Int(text.dropFirst(2), radix: 16) : Int(text)
        guard let value else {
            issue(node, field, "'\(text)' is not a whole number")
            return nil
        }
        guard range.contains(value) else {
            issue(node, field, "\(value) is out of range \(range.lowerBound)…\(range.upperBound)")
            return nil
        }
        return value
    }

    public func double(_ node: YAMLNode?, _ field: String, required: Bool = false, range: ClosedRange<Double>) -> Double? {
        guard let text = string(node, field, required: required) else { return nil }
        guard let value = Double(text) else {
            issue(node, field, "'\(text)' is not a number")
            return nil
        }
        guard range.contains(value) else {
            issue(node, field, "\(text) is out of range \(range.lowerBound)…\(range.upperBound)")
            return nil
        }
        return value
    }

    public func bool(_ node: YAMLNode?, _ field: String) -> Bool? {
        guard let text = string(node, field) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            issue(node, field, "'\(text)' is not true or false")
            return nil
        }
    }

    public func duration(_ node: YAMLNode?, _ field: String, required: Bool = false, range: ClosedRange<Duration>) -> Duration? {
        guard let text = string(node, field, required: required) else { return nil }
        do {
            let value = try DurationText.parse(text)
            guard range.contains(value) else {
                issue(node, field, "\(text) is out of range \(DurationText.format(range.lowerBound))…\(DurationText.format(range.upperBound))")
                return nil
            }
            return value
        } catch {
            issue(node, field, error.description)
            return nil
        }
    }
}
