import CLISupport
import ArgumentParser
import Foundation
import Predictor
import TrainingData

struct Evaluate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score the model and the fallback detector side by side on labelled readings.",
        discussion: """
            Event-level scores (docs/predictor.md, "Evaluation"): an event is a run of labelled \
            samples, an alarm a run of flagged ones; an alarm is true when it overlaps an event \
            or its --grace samples after; delay counts samples from the event's start to its \
            first flag. Write the data with `spike-predictor export`.
            """)

    @Option(name: .long, help: "Labelled readings (CSV from `spike-predictor export`).")
    var data: String

    @Option(name: .long, help: "The model.")
    var model: String = "models/spike-gbt.v3.json"

    @Option(name: .long, help: "Samples after an event's end in which an alarm still counts as true.")
    var grace: Int = 12

    func validate() throws {
        if grace < 0 || grace > 10_000 { throw ValidationError("--grace must be 0…10000 samples, not \(grace)") }
    }

    func run() async throws {
        let forest = try loadModel(model)
        guard let bytes = FileManager.default.contents(atPath: data) else {
            printError("cannot read \(data); write it with `spike-predictor export --out \(data)`")
            throw Exit.usage
        }
        let series: [[LabeledReading]]
        do {
            series = try TrainingCSV.parse(String(decoding: bytes, as: UTF8.self))
        } catch {
            printError("\(data): \(error)")
            throw Exit.usage
        }
        let comparison = BaselineComparison.run(series: series, model: .forest(forest), fallback: .standard, grace: grace)
        for line in comparison.table(title: URL(fileURLWithPath: data).lastPathComponent) { print(line) }
    }
}

extension BaselineComparison {
    func table(title: String) -> [String] {
        func f(_ x: Double, _ digits: Int = 3) -> String { x.isFinite ? String(format: "%.\(digits)f", x) : (x > 0 ? "inf" : "-") }
        guard let first = rows.first?.score else { return [] }
        var lines = [
            "\(title): \(series) series, \(first.samples) scored samples (\(f(first.streamSeconds / 86_400, 1)) stream-days), "
                + "\(first.events) spike events; the first \(Int(Self.fitFraction * 100)) % of each series is not scored",
            "",
            "| detector | threshold | alarms | events detected | event recall | precision | false alarms / 1000 samples | false alarms / stream-day | chance recall | lift |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in rows {
            let s = row.score
            lines.append("| \(row.name) | \(row.threshold.map { f($0, 3) } ?? "own") | \(s.alarms) | \(s.detected)/\(s.events) | \(f(s.recall)) | "
                         + "\(f(s.precision)) | \(f(s.falseAlarmsPer1000, 2)) | \(f(s.falseAlarmsPerStreamDay, 1)) | \(f(s.chanceRecall)) | \(f(s.lift, 2)) |")
        }
        return lines
    }
}
