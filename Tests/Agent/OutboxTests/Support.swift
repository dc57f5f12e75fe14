import Foundation
import Logging
@testable import Outbox
import Synchronization
import TestSupport
import Testing

extension TemporaryDirectory {
    /// `state/` inside the folder, as the agent's `--state-dir`.
    var stateDirectory: StateDirectory { StateDirectory(absolute: path + "/state") }
}

/// Log lines, for asserting what an operator would read.
final class LogRecorder: Sendable {
    private let lines = Mutex<[(Logger.Level, String)]>([])

    var logger: Logger {
        Logger(label: "outbox-test") { _ in Handler(recorder: self) }
    }

    var messages: [String] { lines.withLock { $0.map(\.1) } }

    func messages(at level: Logger.Level) -> [String] { lines.withLock { $0.filter { $0.0 == level }.map(\.1) } }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.lines.withLock { $0.append((event.level, event.message.description)) }
        }
    }
}

/// A wall clock that moves only when told.
final class ManualDate: Sendable {
    private let value: Mutex<Date>
    init(_ start: Date = Date(timeIntervalSince1970: 1_790_000_000)) { value = Mutex(start) }
    var now: Date { value.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { value.withLock { $0 += seconds } }
    var clock: @Sendable () -> Date { { self.now } }
}

func body(_ text: String) -> (UInt64) -> [UInt8] {
    { seq in Array("{\"seq\":\(seq),\"v\":\"\(text)\"}".utf8) }
}

func bytes(_ count: Int) -> (UInt64) -> [UInt8] {
    { _ in [UInt8](repeating: 0x41, count: count) }
}

func files(in folder: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
}
