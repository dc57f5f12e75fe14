import IoTHub
import JSON

/// One device's twin properties as IoT Hub keeps them (IoT Hub's device-twin limits; IoT Hub's twin JSON): desired (written by
/// the back end, here the admin API) and reported (written by the device), each with its own
/// `$version` that grows by one per accepted patch.
///
/// ## Contract
/// - A new twin has empty sections at `$version` 1, as a newly created IoT Hub twin does.
/// - Patches are JSON merge patches (`null` deletes); a patch must be an object whose keys are
///   non-empty, at most 1 KB, without `.`, `$`, space or control characters; depth ≤ 10; each
///   string value at most 4 KB; each section stays within 32 KB. A refused patch changes nothing and throws the reason.
/// - Pure value type: persistence is ``HubStore``'s.
public struct TwinDocument: Sendable, Hashable {
    public var desired: [String: JSONValue]
    public var desiredVersion: Int
    public var reported: [String: JSONValue]
    public var reportedVersion: Int

    public init(desired: [String: JSONValue] = [:], desiredVersion: Int = 1,
                reported: [String: JSONValue] = [:], reportedVersion: Int = 1) {
        self.desired = desired
        self.desiredVersion = desiredVersion
        self.reported = reported
        self.reportedVersion = reportedVersion
    }

    /// The body of a twin GET answer: `{"desired":{…,"$version":n},"reported":{…,"$version":m}}`.
    public var deviceView: JSONValue {
        var desiredSection = desired
        desiredSection["$version"] = .integer(Int64(desiredVersion))
        var reportedSection = reported
        reportedSection["$version"] = .integer(Int64(reportedVersion))
        return .object(["desired": .object(desiredSection), "reported": .object(reportedSection)])
    }

    /// Merges a desired patch; returns the new desired `$version` and the notification body the
    /// device receives (the patch plus `"$version"`, A.9).
    public mutating func patchDesired(_ patch: JSONValue) throws(TwinPatchError) -> (version: Int, notification: JSONValue) {
        let merged = try Self.merge(patch, into: desired, section: "desired")
        desired = merged
        desiredVersion += 1
        var notification = patch.objectValue ?? [:]
        notification["$version"] = .integer(Int64(desiredVersion))
        return (desiredVersion, .object(notification))
    }

    /// Merges a reported patch; returns the new reported `$version` (sent back with `204`).
    public mutating func patchReported(_ patch: JSONValue) throws(TwinPatchError) -> Int {
        reported = try Self.merge(patch, into: reported, section: "reported")
        reportedVersion += 1
        return reportedVersion
    }

    static func merge(_ patch: JSONValue, into section: [String: JSONValue],
                      section name: String) throws(TwinPatchError) -> [String: JSONValue] {
        guard case .object(let members) = patch else {
            throw TwinPatchError(section: name, reason: "the patch is \(patch.description.prefix(60)), not a JSON object")
        }
        if let key = Self.firstBadKey(in: .object(members)) {
            throw TwinPatchError(section: name, reason: "key '\(key)' is not allowed: keys are 1…1024 bytes without "
                + "'.', '$', space or control characters (IoT Hub's device-twin limits)")
        }
        let depth = patch.objectDepth
        if depth > IoTHubLimits.maximumTwinDepth {
            throw TwinPatchError(section: name, reason: "the patch nests \(depth) objects deep; at most "
                + "\(IoTHubLimits.maximumTwinDepth)")
        }
        if let long = Self.firstLongString(in: patch) {
            throw TwinPatchError(section: name, reason: "a value is \(long) bytes long; each twin value may be at most "
                + "\(IoTHubLimits.maximumTwinValueBytes) bytes (IoT Hub's device-twin limits)")
        }
        guard let result = JSONValue.object(section).merging(patch).objectValue else { return section }
        let size = JSONValue.object(result).encoded().count
        let limit = name == "desired" ? IoTHubLimits.maximumTwinDesiredBytes : IoTHubLimits.maximumTwinReportedBytes
        if size > limit {
            throw TwinPatchError(section: name, reason: "the \(name) properties would be \(size) bytes; at most \(limit)")
        }
        return result
    }

    /// The byte length of the first string value over 4 KB, if any.
    static func firstLongString(in value: JSONValue) -> Int? {
        switch value {
        case .string(let text) where text.utf8.count > IoTHubLimits.maximumTwinValueBytes: text.utf8.count
        case .object(let members): members.values.lazy.compactMap(firstLongString(in:)).first
        case .array(let items): items.lazy.compactMap(firstLongString(in:)).first
        default: nil
        }
    }

    static func firstBadKey(in value: JSONValue) -> String? {
        switch value {
        case .object(let members):
            for (key, child) in members {
                let bad = key.isEmpty || key.utf8.count > IoTHubLimits.maximumTwinKeyBytes
                    || key.unicodeScalars.contains { $0 == "." || $0 == "$" || $0 == " " || $0.value < 0x20 || $0.value == 0x7F }
                if bad { return key }
                if let inner = firstBadKey(in: child) { return inner }
            }
            return nil
        case .array(let items):
            return items.lazy.compactMap(firstBadKey(in:)).first
        default:
            return nil
        }
    }
}

/// A twin patch LocalHub refuses (`400` to the device, an error to the admin).
public struct TwinPatchError: Error, Sendable, Hashable, CustomStringConvertible {
    public var section: String
    public var reason: String

    public var description: String { "\(section) patch refused: \(reason)" }
}
