import Configuration
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import JSON
import Logging
import SystemCalls

/// The agent's older log lines in the systemd journal, for `getLogs`: read by running
/// `journalctl` (``POSIX/runBounded(_:_:environment:maximumOutput:timeout:)``), so the device
/// binary links no libsystemd. Its output is read up to ``maximumOutput`` bytes and for at most
/// ``timeout``, newest entries first; a journalctl that floods or hangs is cut off there.
public struct JournalSource: Sendable, Equatable {
    /// journalctl's path.
    public var executable: String
    /// What to read: `--unit=fieldagent.service` on a board; a test adds `--file=X.journal`.
    public var selection: [String]
    public var timeout: Duration
    public var maximumOutput: Int

    public static let defaultTimeout: Duration = .seconds(2)
    public static let defaultMaximumOutput = 1 << 20

    public init(executable: String, selection: [String], timeout: Duration = defaultTimeout, maximumOutput: Int = defaultMaximumOutput) {
        self.executable = executable
        self.selection = selection
        self.timeout = timeout
        self.maximumOutput = maximumOutput
    }

    /// Why there is no journal to read.
    public struct Unavailable: Error, Sendable, Equatable, CustomStringConvertible {
        public var reason: String
        public init(reason: String) { self.reason = reason }
        public var description: String { reason }
    }

    /// The journal of this service, when the agent runs under systemd (`$INVOCATION_ID` set, or
    /// journald's socket `/run/systemd/journal/socket` there) and journalctl is installed. The
    /// unit is this process's own (its cgroup), `fieldagent.service` when that cannot be read.
    public static func detect(environment: [String: String], cgroup: String? = try? POSIX.readTextFile("/proc/self/cgroup"),
                              journaldSocket: String = "/run/systemd/journal/socket") -> Result<JournalSource, Unavailable> {
        guard environment["INVOCATION_ID"] != nil || POSIX.exists(journaldSocket) else {
            return .failure(Unavailable(reason: "not running under systemd's journal"))
        }
        let candidates: [String] = ["/usr/bin/journalctl", "/bin/journalctl"]
        guard let executable = candidates.first(where: { access($0, X_OK) == 0 }) else {
            return .failure(Unavailable(reason: "journalctl is not installed"))
        }
        return .success(JournalSource(executable: executable, selection: ["--unit=\(unit(cgroup: cgroup))"]))
    }

    /// The service unit a `/proc/self/cgroup` names (`0::/system.slice/fieldagent.service`).
    static func unit(cgroup: String?) -> String {
        for line in (cgroup ?? "").split(separator: "\n") {
            if let last = line.split(separator: "/").last, last.hasSuffix(".service"), !last.contains("@") { return String(last) }
        }
        return "fieldagent.service"
    }

    /// One journal entry as `getLogs` answers it: `2026-12-03T15:04:05.123Z notice …` like the ring's lines.
    public struct Entry: Sendable, Equatable {
        public var date: Date
        public var level: Logger.Level
        public var line: String
    }

    /// What was read, oldest first, and how the reading went (`read`, `cut off after 2 s`, …).
    public struct Excerpt: Sendable, Equatable {
        public var entries: [Entry]
        public var note: String
    }

    /// Entries at or above `level` stamped in `since ..< before` (either open), oldest first.
    public func read(since: Date?, before: Date?, level: Logger.Level) -> Excerpt {
        var arguments = selection + ["--output=json", "--output-fields=MESSAGE,PRIORITY", "--no-pager", "--quiet", "--reverse"]
        if let since { arguments.append("--since=@\(Int64(since.timeIntervalSince1970.rounded(.down)))") }
        if let before { arguments.append("--until=@\(Int64(before.timeIntervalSince1970.rounded(.up)))") }
        let run: POSIX.BoundedRun
        do {
            run = try POSIX.runBounded(executable, arguments, environment: ["LANG=C.UTF-8", "SYSTEMD_COLORS=0"],
                                       maximumOutput: maximumOutput, timeout: timeout)
        } catch {
            return Excerpt(entries: [], note: "journalctl cannot be run: \(error)")
        }
        let entries = Self.parse(run.output).filter { entry in
            entry.level >= level && since.map { entry.date >= $0 } ?? true && before.map { entry.date < $0 } ?? true
        }
        let note: String
        if run.truncated {
            note = "cut off at \(maximumOutput) bytes of journalctl output"
        } else if run.timedOut {
            note = "cut off after \(DurationText.format(timeout)) of journalctl"
        } else if !run.succeeded {
            let said = String(decoding: run.errorOutput.prefix(200), as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            note = "journalctl ended with \(run.end)" + (said.isEmpty ? "" : ": \(said)")
        } else {
            note = "read"
        }
        return Excerpt(entries: entries, note: note)
    }

    /// journalctl's `--output=json` lines, newest first, into entries oldest first; an
    /// incomplete or unreadable line (the last one of a cut-off read) is skipped.
    static func parse(_ output: [UInt8]) -> [Entry] {
        var entries: [Entry] = []
        for line in output.split(separator: UInt8(ascii: "\n")) {
            guard let object = try? JSONValue.parse(Array(line)),
                  case .string(let stamp)? = object["__REALTIME_TIMESTAMP"], let micros = Int64(stamp),
                  let message = text(object["MESSAGE"]) else { continue }
            let date = Date(timeIntervalSince1970: Double(micros) / 1_000_000)
            entries.append(entry(date: date, priority: text(object["PRIORITY"]).flatMap { Int($0) }, message: message))
        }
        return entries.reversed()
    }

    /// A journal field: text, or the bytes journalctl shows as an array when they are not UTF-8.
    static func text(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text)?: return text
        case .array(let items)?: return String(decoding: items.compactMap { $0.intValue.flatMap(UInt8.init(exactly:)) }, as: UTF8.self)
        default: return nil
        }
    }

    /// The agent's own lines reach the journal through stderr as swift-log writes them
    /// (`2026-12-03T15:04:05+0000 notice agent: … message`, all at priority info): their level is
    /// the one written, and their time the journal's (to the microsecond). Other lines (systemd's
    /// about the unit) take the level of their priority.
    static func entry(date: Date, priority: Int?, message: String) -> Entry {
        let time = date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        let words = message.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        var line: String
        let level: Logger.Level
        if words.count >= 2, words[0].first?.isNumber == true, words[0].contains("T"), let written = Logger.Level(rawValue: String(words[1])) {
            level = written
            line = time + " " + message.dropFirst(words[0].count + 1)
        } else {
            level = switch priority ?? 6 {
            case ...2: .critical
            case 3: .error
            case 4: .warning
            case 5: .notice
            case 6: .info
            default: .debug
            }
            line = "\(time) \(level) \(message)"
        }
        if line.utf8.count > LogRing.maximumLineBytes {
            line = String(decoding: line.utf8.prefix(LogRing.maximumLineBytes - 3), as: UTF8.self) + "…"
        }
        return Entry(date: date, level: level, line: line)
    }
}
