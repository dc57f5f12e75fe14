import AgentRuntime
import Boards
import Foundation
import JSON
import Logging
import TestSupport
import Testing

/// A real journal file: export-format entries turned into a `.journal` by Debian's
/// systemd-journal-remote (scripts/lib/packages.sh, journal_packages), read back by real journalctl.
func makeJournal(_ entries: [[String: String]], in folder: TemporaryDirectory) throws -> String {
    let remote = try ["/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote"]
        .first { FileManager.default.isExecutableFile(atPath: $0) } ?? { throw ProgramMissing(name: "systemd-journal-remote") }()
    let file = folder.file("agent.journal")
    var export = ""
    for (index, entry) in entries.enumerated() {
        export += "__MONOTONIC_TIMESTAMP=\(1_000_000 + index)\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=board\n"
        for (name, value) in entry.sorted(by: { $0.key < $1.key }) { export += "\(name)=\(value)\n" }
        export += "\n"
    }
    let result = try runProgram(remote, ["--output=\(file)", "-"], input: export)
    #expect(result.status == 0, "systemd-journal-remote: \(result.output)")
    return file
}

func microseconds(_ date: Date) -> String { String(Int64(date.timeIntervalSince1970 * 1_000_000)) }

/// `getLogs` under systemd: lines older than the ring's come from the journal, through journalctl,
/// with no line answered twice, each source named, and every bound kept.
@Suite struct JournalLogsTests {
    let start = Date(timeIntervalSince1970: 1_796_000_000)  // 2026-11-30

    /// A line as swift-log's stream handler writes it to stderr, which journald keeps at priority 6.
    func stderrLine(_ level: String, _ message: String, at date: Date) -> [String: String] {
        ["__REALTIME_TIMESTAMP": microseconds(date), "_SYSTEMD_UNIT": "fieldagent.service", "PRIORITY": "6", "_PID": "4242",
         "MESSAGE": "2026-11-30T00:00:00+0000 \(level) agent: feature=link [AgentRuntime] \(message)"]
    }

    func agent(ring: LogRing?, journal: JournalSource?) throws -> Agent {
        Agent(board: try openBoard("sim-factory-line"),
              options: .init(agentVersion: "test", config: testConfig(sendFrequency: .seconds(10)), environment: [:], logRing: ring, journal: journal),
              hub: nil, logger: Logger(label: "test"))
    }

    func getLogs(_ agent: Agent, _ request: String) throws -> (status: Int, body: JSONValue, size: Int) {
        let (status, body) = agent.invoke("getLogs", payload: Array(request.utf8))
        return (status, try JSONValue.parse(body), body.count)
    }

    func lines(_ answer: JSONValue) -> [String] {
        guard case .array(let items)? = answer["lines"] else { return [] }
        return items.compactMap { if case .string(let s) = $0 { s } else { nil } }
    }

    @Test func olderLinesComeFromTheJournalFirstWithoutDuplicates() throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-journal")
        let journalctl = try program("journalctl")
        let ringStart = start.addingTimeInterval(3600)
        let file = try makeJournal([
            stderrLine("notice", "previous run started", at: start),
            stderrLine("error", "lost the hub: connection reset", at: start.addingTimeInterval(60)),
            ["__REALTIME_TIMESTAMP": microseconds(start.addingTimeInterval(61)), "_PID": "1", "_UID": "0", "_COMM": "systemd", "UNIT": "fieldagent.service", "PRIORITY": "4",
             "MESSAGE": "fieldagent.service: Watchdog timeout (limit 30s)!"],
            ["__REALTIME_TIMESTAMP": microseconds(start.addingTimeInterval(62)), "_SYSTEMD_UNIT": "other.service", "PRIORITY": "3",
             "MESSAGE": "another unit's line"],
            stderrLine("debug", "a debug line", at: start.addingTimeInterval(63)),
            // This run's lines, which the ring holds too (journald stamps them just after).
            stderrLine("notice", "this run started", at: ringStart.addingTimeInterval(0.002)),
            stderrLine("warning", "sensor ambient failed", at: ringStart.addingTimeInterval(5.002)),
        ], in: folder)
        let ring = LogRing()
        ring.append(date: ringStart, level: .notice, label: "agent", message: "this run started", metadata: [:])
        ring.append(date: ringStart.addingTimeInterval(5), level: .warning, label: "agent", message: "sensor ambient failed", metadata: [:])
        let source = JournalSource(executable: journalctl, selection: ["--file=\(file)", "--unit=fieldagent.service"])
        // Whether this journalctl counts systemd's own line about the unit as the unit's (systemd
        // 252 does; 257, on Debian 13, did not for this file): getLogs answers what journalctl selects.
        let oracle = try runProgram(journalctl, ["--file=\(file)", "--unit=fieldagent.service", "-o", "cat"])
        let pid1 = oracle.output.contains("Watchdog timeout")
        let fromJournal = pid1 ? 3 : 2
        let agent = try agent(ring: ring, journal: source)

        let all = try getLogs(agent, #"{"level":"info"}"#)
        #expect(all.status == 200)
        let answered = lines(all.body)
        #expect(answered.count == fromJournal + 2, "\(answered)")
        #expect(all.body["journalLines"] == .integer(Int64(fromJournal)))
        #expect(all.body["journal"] == .string("read"))
        #expect(answered[0] == "2026-11-30T00:53:20.000Z notice agent: feature=link [AgentRuntime] previous run started")
        #expect(answered[1].hasSuffix("error agent: feature=link [AgentRuntime] lost the hub: connection reset"))
        if pid1 { #expect(answered[2] == "2026-11-30T00:54:21.000Z warning fieldagent.service: Watchdog timeout (limit 30s)!") }
        #expect(!answered.contains { $0.contains("a debug line") })
        #expect(answered[fromJournal].hasSuffix("notice this run started") && answered[fromJournal + 1].hasSuffix("warning sensor ambient failed"))
        #expect(!answered.contains { $0.contains("another unit") })
        #expect(answered.filter { $0.contains("this run started") }.count == 1, "no line twice")

        // The level applies to both sources; `since` too.
        let warnings = lines(try getLogs(agent, #"{"level":"warning"}"#).body)
        #expect(warnings.count == fromJournal && warnings[0].contains("lost the hub") && (!pid1 || warnings[1].contains("Watchdog")), "\(warnings)")
        let recent = try getLogs(agent, #"{"since":"2026-11-30T00:53:50Z"}"#)
        #expect(lines(recent.body).first?.contains("lost the hub") == true, "\(lines(recent.body))")
        #expect(recent.body["journalLines"] == .integer(Int64(fromJournal)))
        // A `since` the ring covers needs no journal.
        let ringOnly = try getLogs(agent, #"{"since":"2026-11-30T01:53:21Z"}"#)
        #expect(lines(ringOnly.body).count == 1 && ringOnly.body["journalLines"] == .integer(0))
        #expect(ringOnly.body["journal"]?.description.contains("not read") == true)
    }

    @Test func maxBytesHoldsTheNewestJournalLinesThatFit() throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-journal")
        let journalctl = try program("journalctl")
        let entries = (0..<600).map { i in stderrLine("info", "line \(i) " + String(repeating: "x", count: 150), at: start.addingTimeInterval(Double(i))) }
        let file = try makeJournal(entries, in: folder)
        let agent = try agent(ring: nil, journal: JournalSource(executable: journalctl, selection: ["--file=\(file)"]))
        let answer = try getLogs(agent, #"{"maxBytes":4096}"#)
        #expect(answer.status == 200)
        #expect(answer.size <= 4096, "\(answer.size) bytes")
        let got = lines(answer.body)
        #expect(got.count >= 10 && got.last?.contains("line 599 ") == true, "\(got.last ?? "none")")
        #expect(answer.body["omitted"]?.intValue == 600 - got.count)
        #expect(answer.body["journalLines"]?.intValue == got.count)
    }

    /// A stand-in journalctl that floods or hangs: cut off at the byte or the time bound, and what
    /// the ring has is still answered.
    @Test(arguments: ["flood", "hang"])
    func aJournalctlThatFloodsOrHangsIsCutOff(mode: String) throws {
        let line = #"{"__REALTIME_TIMESTAMP":"1796000000000000","PRIORITY":"6","MESSAGE":"flooding"}"#
        let script = mode == "flood" ? "exec yes '\(line)'" : "echo '\(line)'; exec sleep 60"
        // A shell rather than a script file: a file just written may be held open by a process
        // another test forks meanwhile (ETXTBSY). journalctl's arguments follow as $0, $1, ….
        let fake = try program("sh")
        let ring = LogRing()
        ring.append(date: start.addingTimeInterval(3600), level: .notice, label: "agent", message: "from the ring", metadata: [:])
        let source = JournalSource(executable: fake, selection: ["-c", script], timeout: .milliseconds(500), maximumOutput: 256 << 10)
        let agent = try agent(ring: ring, journal: source)
        let started = ContinuousClock.now
        let answer = try getLogs(agent, #"{"maxBytes":8192}"#)
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(answer.status == 200 && answer.size <= 8192)
        let got = lines(answer.body)
        #expect(got.last?.hasSuffix("notice from the ring") == true)
        #expect(got.dropLast().allSatisfy { $0.hasSuffix("info flooding") } && got.count >= 2, "\(got.prefix(3))")
        let note = answer.body["journal"]?.description ?? ""
        #expect(note.contains(mode == "flood" ? "cut off at 262144 bytes" : "cut off after"), "\(note)")
    }

    @Test func withoutSystemdTheRingAloneAnswersAndSaysSo() throws {
        let notUnder = JournalSource.detect(environment: [:], cgroup: nil, journaldSocket: "/nonexistent/socket")
        #expect(notUnder == .failure(.init(reason: "not running under systemd's journal")))
        let under = JournalSource.detect(environment: ["INVOCATION_ID": "0123"], cgroup: "0::/system.slice/fieldagent-test.service\n",
                                         journaldSocket: "/nonexistent/socket")
        #expect((try? under.get())?.selection == ["--unit=fieldagent-test.service"])
        let ring = LogRing()
        ring.append(date: start, level: .notice, label: "agent", message: "only line", metadata: [:])
        let agent = Agent(board: try openBoard("sim-factory-line"),
                          options: .init(agentVersion: "test", config: testConfig(sendFrequency: .seconds(10)), environment: [:], logRing: ring),
                          hub: nil, logger: Logger(label: "test"))
        let answer = try getLogs(agent, "{}")
        #expect(lines(answer.body).count == 1 && answer.body["journalLines"] == .integer(0))
        // (A test run under systemd's journal would find it: the environment is empty, the socket is not.)
        if !FileManager.default.fileExists(atPath: "/run/systemd/journal/socket") {
            #expect(answer.body["journal"] == .string("absent: not running under systemd's journal"))
        }
    }
}
