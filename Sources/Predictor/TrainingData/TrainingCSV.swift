import Predictor

/// The CSV of `spike-predictor export` (docs/predictor.md, "Training data").
///
/// Columns: `device,channel,time,value,label,kind,seed`, and with `--features` then
/// `warming_up` and one column per ``FeatureName`` but `value` (already a column), in
/// `FeatureName.allCases` order, computed by
/// ``RollingFeatures`` with ``FeatureWindows/v1`` over each series. Numbers are written in
/// Swift's shortest round-trip form, so Python's `float()` reads back the very same binary64.
public enum TrainingCSV {
    public static let baseColumns = ["device", "channel", "time", "value", "label", "kind", "seed"]

    /// The feature columns: every feature but `value`, which is the `value` column already.
    public static let featureColumns = FeatureName.allCases.filter { $0 != .value }

    public static func header(features: Bool) -> String {
        (baseColumns + (features ? ["warming_up"] + featureColumns.map(\.rawValue) : [])).joined(separator: ",")
    }

    /// The lines of one series (no header), with features computed over the series if asked.
    public static func lines(_ series: [LabeledReading], features windows: FeatureWindows?) -> [String] {
        var rolling = windows.map { RollingFeatures(windows: $0) }
        return series.map { r in
            var line = "\(r.device),\(r.channel),\(r.time),\(r.value),\(r.label),\(r.kind),\(r.seed)"
            if rolling != nil, let vector = rolling?.next(r.value) {
                line += vector.warmingUp ? ",1" : ",0"
                for name in featureColumns { line += ",\(vector[name])" }
            }
            return line
        }
    }

    /// Reads an export back as series (rows grouped by device and channel, in file order).
    /// Needs the columns device, channel, time, value, label; ignores the others.
    public static func parse(_ text: String) throws(TrainingDataError) -> [[LabeledReading]] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true).makeIterator()
        guard let headerLine = lines.next() else { throw TrainingDataError(line: 1, reason: "the file is empty; expected a header line") }
        let header = headerLine.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        func column(_ name: String) throws(TrainingDataError) -> Int {
            guard let i = header.firstIndex(of: name) else {
                throw TrainingDataError(line: 1, reason: "no \"\(name)\" column; expected a header like \(baseColumns.joined(separator: ","))")
            }
            return i
        }
        let device = try column("device"), channel = try column("channel"), time = try column("time")
        let value = try column("value"), label = try column("label")
        let kind = header.firstIndex(of: "kind"), seed = header.firstIndex(of: "seed")
        var series: [[LabeledReading]] = []
        var index: [String: Int] = [:]
        var number = 1
        while let line = lines.next() {
            number += 1
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            guard f.count == header.count else {
                throw TrainingDataError(line: number, reason: "expected \(header.count) fields, found \(f.count)")
            }
            guard let t = Double(f[time]), let v = Double(f[value]), v.isFinite, t.isFinite else {
                throw TrainingDataError(line: number, reason: "time and value must be finite numbers, found \"\(f[time])\" and \"\(f[value])\"")
            }
            guard let l = Int(f[label]), l == 0 || l == 1 else {
                throw TrainingDataError(line: number, reason: "label must be 0 or 1, found \"\(f[label])\"")
            }
            let reading = LabeledReading(device: String(f[device]), channel: String(f[channel]), time: t, value: v, label: l,
                                         kind: kind.map { String(f[$0]) } ?? "none",
                                         seed: seed.flatMap { UInt64(f[$0]) } ?? 0)
            let key = reading.device + "\u{0}" + reading.channel
            if let i = index[key] {
                series[i].append(reading)
            } else {
                index[key] = series.count
                series.append([reading])
            }
        }
        return series
    }
}

/// A training or evaluation file that could not be read: the line and what was wrong.
public struct TrainingDataError: Error, Equatable, Sendable, CustomStringConvertible {
    public var line: Int
    public var reason: String

    public init(line: Int, reason: String) {
        self.line = line
        self.reason = reason
    }

    public var description: String {
        "line \(line): \(reason) (write the file with `spike-predictor export`)"
    }
}

/// Parses `--seeds` (`7`, `1-24`) and `--kinds` (`spike,dip`).
public enum TrainingArguments {
    public static func seeds(_ text: String) -> ClosedRange<UInt64>? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        if parts.count == 1, let a = UInt64(parts[0]) { return a...a }
        if parts.count == 2, let a = UInt64(parts[0]), let b = UInt64(parts[1]), a <= b, b - a < 100_000 { return a...b }
        return nil
    }

    public static func kinds(_ text: String) -> Set<TrainingKind>? {
        var out = Set<TrainingKind>()
        for name in text.split(separator: ",") {
            guard let kind = TrainingKind(rawValue: String(name)) else { return nil }
            out.insert(kind)
        }
        return out.isEmpty ? nil : out
    }
}
