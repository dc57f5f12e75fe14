#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import FoundationEssentials

/// `2026-11-03 12:00:00 UTC`: how Identity writes instants in messages and reports.
public enum UTC {
    public static func text(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        guard gmtime_r(&seconds, &parts) != nil else { return "\(date.timeIntervalSince1970) s since 1970" }
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }

    /// `1 day`, `10 days`, `5 hours`, `12 minutes`: a span rounded down to its largest unit.
    static func span(_ seconds: TimeInterval) -> String {
        let value = abs(seconds)
        func count(_ number: Int, _ unit: String) -> String { number == 1 ? "1 \(unit)" : "\(number) \(unit)s" }
        if value >= 86_400 { return count(Int(value / 86_400), "day") }
        if value >= 3_600 { return count(Int(value / 3_600), "hour") }
        return count(Int(value / 60), "minute")
    }
}
