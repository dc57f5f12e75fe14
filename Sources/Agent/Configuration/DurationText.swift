/// Durations as people and the twin write them: `"30s"`, `"5m"`, `"1h"`, `"250ms"`, `"1h30m"`, or
/// ISO 8601 (`"PT30S"`, `"PT1H30M"`). `sendFrequency` accepts both.
public enum DurationText {
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public var text: String
        public var reason: String
        public var description: String { "'\(text)' is not a duration: \(reason)" }
    }

    public static func parse(_ text: String) throws(ParseError) -> Duration {
        let trimmed = text.trimmingPrefix(while: \.isWhitespace)
        guard !trimmed.isEmpty else { throw ParseError(text: text, reason: "it is empty; write e.g. 30s, 5m, 1h or PT30S") }
        if trimmed.first == "P" || trimmed.first == "p" { return try iso8601(String(trimmed), original: text) }
        return try compact(String(trimmed).lowercased(), original: text)
    }

    private static let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]

    private static func compact(_ s: String, original: String) throws(ParseError) -> Duration {
        var total = 0.0
        var rest = Substring(s)
        var parts = 0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else {
                throw ParseError(text: original, reason: !number.isEmpty ? "'\(number)' is not a number"
                    : rest.first == "-" ? "it is negative" : "expected a number before a unit (ms, s, m, h, d), e.g. 30s")
            }
            rest = rest.dropFirst(number.count)
            let unitText = rest.prefix { $0.isLetter }
            guard let unit = units.first(where: { $0.0 == unitText }) else {
                throw ParseError(text: original, reason: unitText.isEmpty ? "a unit is missing after \(number); use ms, s, m, h or d" : "unknown unit '\(unitText)'; use ms, s, m, h or d")
            }
            rest = rest.dropFirst(unitText.count)
            total += value * unit.1
            parts += 1
        }
        return try milliseconds(seconds: total, original: original)
    }

    private static func iso8601(_ s: String, original: String) throws(ParseError) -> Duration {
        // PnDTnHnMnS (weeks, months and years are not fixed lengths and are refused).
        var total = 0.0
        var inTime = false
        var number = ""
        // "PT" and "P1DT" have no component (after the T); ISO 8601 requires one.
        var sawComponent = false
        var sawTimeComponent = false
        for ch in s.uppercased().dropFirst() {
            switch ch {
            case "T": inTime = true
            case "0"..."9", ".", ",": number.append(ch == "," ? "." : ch)
            case "D", "H", "M", "S":
                guard let value = Double(number) else { throw ParseError(text: original, reason: "expected a number before '\(ch)'") }
                if ch == "D" && inTime || ch != "D" && !inTime {
                    throw ParseError(text: original, reason: "'\(ch)' is in the wrong place; ISO 8601 durations look like PT30S or P1DT2H")
                }
                total += value * (ch == "D" ? 86400 : ch == "H" ? 3600 : ch == "M" ? 60 : 1)
                number = ""
                sawComponent = true
                sawTimeComponent = sawTimeComponent || inTime
            default:
                throw ParseError(text: original, reason: "'\(ch)' is not allowed in an ISO 8601 duration (use days, hours, minutes, seconds)")
            }
        }
        guard number.isEmpty, sawComponent, !inTime || sawTimeComponent else { throw ParseError(text: original, reason: "incomplete ISO 8601 duration") }
        return try milliseconds(seconds: total, original: original)
    }

    /// `Int64(_:)` traps past Int64.max milliseconds (about 292 million years, or an infinite
    /// value from a long run of digits); such text is refused, not allowed to crash the agent.
    private static func milliseconds(seconds: Double, original: String) throws(ParseError) -> Duration {
        let ms = (seconds * 1000).rounded()
        guard ms < Double(Int64.max) else {
            throw ParseError(text: original, reason: "it is too long; the longest duration is about 292 million years")
        }
        return .milliseconds(Int64(ms))
    }

    /// `30s`, `5m`, `1h30m`, `250ms`: the shortest compact form.
    public static func format(_ d: Duration) -> String {
        var ms = Int64((d.components.seconds * 1000) + d.components.attoseconds / 1_000_000_000_000_000)
        if ms == 0 { return "0s" }
        var out = ""
        for (suffix, size) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1000)] where ms >= size {
            out += "\(ms / size)\(suffix)"
            ms %= size
        }
        if ms > 0 { out += "\(ms)ms" }
        return out
    }
}

/// One problem found in a configuration or board file: where, and what was expected.
/// Validation collects all of them at once so a technician fixes everything in one go.
public struct ConfigIssue: Equatable, Sendable, CustomStringConvertible {
    public var file: String
    /// Key path, e.g. `i2c[0].chips[1].address`.
    public var field: String
    public var message: String

    public init(file: String, field: String, message: String) {
        self.file = file
        self.field = field
        self.message = message
    }

    public var description: String { "\(file): \(field): \(message)" }
}

public struct ConfigIssues: Error, CustomStringConvertible {
    public var issues: [ConfigIssue]
    public init(_ issues: [ConfigIssue]) { self.issues = issues }
    public var description: String {
        "\(issues.count) problem\(issues.count == 1 ? "" : "s"):\n" + issues.map { "  - \($0)" }.joined(separator: "\n")
    }
}
