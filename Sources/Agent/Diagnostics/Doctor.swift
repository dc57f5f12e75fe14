import ChipCatalog
import Boards
import HAL
import SensorCore

/// `fieldagent doctor`: a one-command verdict on every bus, chip, reading and line of a board,
/// with a fix hint for every failure. The checks run against the board's own buses and drivers,
/// so a simulated board and a real one are diagnosed by the same code.
public struct Doctor: Sendable {
    /// Readings taken per sensor to judge plausibility, noise and error rates.
    public var reads: Int
    /// Called with a short line whenever a step starts (the CLI prints it to stderr).
    public var progress: @Sendable (String) -> Void

    public init(reads: Int = 6, progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.reads = reads
        self.progress = progress
    }

    public func run(_ board: Board) -> DoctorReport {
        var report = DoctorReport(board: board.file.name, deviceID: board.file.deviceID, scans: [], checks: [])
        for (name, bus) in board.buses {
            if let failure = board.busFailures[name] {
                let detail = failure.firstRange(of: " Fix: ").map { String(failure[..<$0.lowerBound]) } ?? failure
                report.checks.append(Check(id: "bus:\(name):open", title: "\(name) open", status: .fail,
                                           detail: detail, fix: Self.openFix(failure)))
                continue
            }
            progress("scanning \(name) …")
            let scan = scanBus(name: name, bus: bus)
            report.scans.append(scan)
            progress("found \(scan.present.count) device\(scan.present.count == 1 ? "" : "s") on \(name)")
            report.checks += scanChecks(scan, board: board, bus: bus)
            for sensor in board.sensors where sensor.busName == name {
                progress("checking \(sensor.chip.name) (\(sensor.chip.kind.name) at \(sensor.chip.address)) …")
                report.checks += SensorCheck(sensor: sensor, board: board, scan: scan, reads: reads).run()
            }
        }
        if board.file.gpio != nil {
            progress("checking GPIO lines …")
            report.checks += gpioChecks(board)
        }
        return report
    }

    /// Probes 0x08…0x77 the way `i2cdetect -r` does.
    func scanBus(name: String, bus: any I2CBus) -> BusScan {
        var present: [UInt8] = []
        var errors: [String: String] = [:]
        for address in I2CAddress.scanRange {
            do {
                if try bus.probe(address) { present.append(address.rawValue) }
            } catch {
                errors[address.description] = "\(error.kind)"
            }
        }
        return BusScan(bus: name, present: present, errors: errors)
    }

    func scanChecks(_ scan: BusScan, board: Board, bus: any I2CBus) -> [Check] {
        var checks: [Check] = []
        let expected = Set(board.sensors.filter { $0.busName == scan.bus }.map(\.chip.address.rawValue))
        if scan.errors.isEmpty {
            checks.append(Check(id: "bus:\(scan.bus):scan", title: "\(scan.bus) bus scan", status: .ok,
                                detail: "\(scan.present.count) device\(scan.present.count == 1 ? "" : "s") answer: \(scan.present.map { I2CAddress($0).description }.joined(separator: " "))"))
        } else {
            checks.append(Check(id: "bus:\(scan.bus):scan", title: "\(scan.bus) bus scan", status: .fail,
                                detail: "probes failed at \(scan.errors.keys.sorted().joined(separator: " ")): \(Set(scan.errors.values).sorted().joined(separator: ", "))",
                                fix: "a device is holding the bus or the wiring is faulty: check SDA/SCL for shorts, pull-ups (2.2–4.7 kΩ to 3V3) and power-cycle the board"))
        }
        for address in scan.present where !expected.contains(address) {
            let identity = ChipCatalog.detect(bus: bus, address: I2CAddress(address), clock: board.clock)
            let what = identity.map { "identifies as \($0.descriptor.identifiesAs)" } ?? "unknown device"
            checks.append(Check(id: "bus:\(scan.bus):unexpected:\(I2CAddress(address))", title: "\(scan.bus) unexpected device \(I2CAddress(address))",
                                status: .warn, detail: "\(what); the board file does not list it",
                                fix: "add it to the board file if it belongs there, or remove it: an unlisted device can clash with a listed one"))
        }
        return checks
    }

    func gpioChecks(_ board: Board) -> [Check] {
        guard let gpio = board.file.gpio else { return [] }
        var checks: [Check] = []
        for role in BoardFile.LineRole.allCases {
            guard let config = gpio.lines[role] else { continue }
            let id = "gpio:\(role.rawValue)"
            let title = "\(role.title) \(gpio.chip) line \(config.offset)"
            if let error = board.lines.failures[role] {
                checks.append(Check(id: id, title: title, status: .fail, detail: error.description, fix: gpioFix(error, chip: gpio.chip)))
                continue
            }
            do {
                switch role {
                case .statusLED, .alarm:
                    guard let line = role == .statusLED ? board.lines.statusLED : board.lines.alarm else { continue }
                    if role == .statusLED {
                        try line.set(true)
                        board.clock.sleep(for: .milliseconds(200))
                    }
                    try line.set(false)
                    let what = role == .statusLED ? "switched on and off (look for the blink)" : "driven inactive"
                    checks.append(Check(id: id, title: title, status: .ok, detail: "\(what)\(config.activeLow ? ", active-low" : "")"))
                case .button:
                    guard let line = board.lines.button else { continue }
                    let pressed = try line.get()
                    checks.append(Check(id: id, title: title, status: .ok, detail: pressed ? "reads pressed" : "reads released"))
                }
            } catch {
                checks.append(Check(id: id, title: title, status: .fail, detail: error.description, fix: gpioFix(error, chip: gpio.chip)))
            }
        }
        return checks
    }

    /// The open error already carries its fix after "Fix: "; say it plainly in the fix column.
    static func openFix(_ failure: String) -> String {
        guard let range = failure.firstRange(of: "Fix: ") else { return "check that the bus exists and this user may open it" }
        return String(failure[range.upperBound...])
    }

    /// `chip` is the board file's name for the chip: `gpioinfo` resolves names, paths, numbers and
    /// labels alike, and it reads the same on a real and a simulated board.
    func gpioFix(_ error: GPIOError, chip: String) -> String {
        switch error.kind {
        case .busy: "another program holds the line: find it with 'gpioinfo \(chip)', stop it, or move this function to a free line"
        case .permissionDenied: "add the user to the gpio group: sudo usermod -aG gpio $USER, then log in again"
        case .noSuchChip: "check gpio.chip in the board file against 'gpiodetect'"
        case .noSuchLine: "check the line number in the board file against 'gpioinfo \(chip)'"
        case .io, .closed: "power-cycle the board; if it persists, check the header wiring"
        }
    }
}
