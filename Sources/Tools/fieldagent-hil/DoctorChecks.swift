import Boards
import Diagnostics
import HAL
import HALLinux

/// The doctor on a real board (i2c-stub + gpio-sim) against the same board simulated (issue 4:
/// "the doctor's bus scan finds exactly the planted chips"; "a planted fault in the guest — chip
/// address removed from i2c-stub, a line held by another consumer — produces the same doctor
/// verdicts and fix hints as on a simulated board").
///
/// The board: BME280 `ambient` at 0x76 and ADXL345 `motor` at 0x53, both in the stub with the
/// images ``chipImageChecks(_:)`` planted; SHT31 `duct` at 0x44, which the stub does not have
/// (the removed chip); gpio-sim's bank by its label with the status LED on line 0, the button on
/// 1 and the alarm on 2, which another consumer, `hil-holder`, holds. The simulated twin plants
/// `{ chip: duct, kind: absent }` and `{ line: alarm, kind: line_busy, consumer: hil-holder }`.
func doctorChecks(_ hil: HILRunner) {
    let removed = "duct"
    let holder = "hil-holder"
    var linux: DoctorReport?
    var simulated: DoctorReport?
    var busPath = ""
    var gpioChipName = ""
    var gpioLabel = ""

    hil.check("doctor.runs-on-linux-board-and-on-its-simulated-twin") {
        busPath = try environment("HIL_I2C_BUS")
        gpioLabel = try environment("HIL_GPIO_LABEL")
        // Another program holds the alarm line while the board opens and the doctor runs.
        let other = try LinuxGPIOChip(gpioLabel)
        gpioChipName = other.name
        let held = try other.requestOutput(GPIOLineConfig(offset: 2, consumer: holder))
        let real = try Board.open(try BoardFile.parse(boardYAML(.linux, bus: busPath, gpio: gpioLabel), path: "hil-linux.yaml"))
        linux = Doctor().run(real)
        withExtendedLifetime(held) {}
        let twin = try Board.open(try BoardFile.parse(boardYAML(.simulated, bus: busPath, gpio: gpioLabel), path: "hil-simulated.yaml"),
                                  timeScale: 0)
        simulated = Doctor().run(twin)
        // The table for the reader, prefixed so the script does not count its FAIL rows as checks.
        for line in linux?.table().split(separator: "\n", omittingEmptySubsequences: false) ?? [] {
            hil.emit("  doctor(linux) | \(line)")
        }
    }
    guard let linux, let simulated else { return }
    func find(_ report: DoctorReport, _ id: String) throws -> Check {
        guard let check = report.checks.first(where: { $0.id == id }) else {
            throw HILRunner.Failure("no check \(id) in the \(report.board) report: \(report.checks.map(\.id))")
        }
        return check
    }
    func show(_ side: String, _ check: Check) {
        hil.emit("  \(side): \(check.status.rawValue) \(check.id) — \(check.detail) — fix: \(check.fix ?? "none")")
    }

    hil.check("doctor.scan-finds-exactly-the-planted-chips") {
        let planted = try environment("HIL_I2C_ADDRESSES").split(separator: " ")
            .compactMap { UInt8($0.dropFirst(2), radix: 16) }.sorted()
        try expectEqual(linux.scans.map(\.bus), [busPath], "buses scanned")
        try expectEqual(linux.scans.first?.present ?? [], planted, "addresses the doctor's scan found")
        let scan = try find(linux, "bus:\(busPath):scan")
        try expectEqual(scan.status, .ok, "scan verdict (\(scan.detail))")
        for name in ["ambient", "motor"] {
            let present = try find(linux, "chip:\(name):present")
            try expectEqual(present.status, .ok, "\(present.title) (\(present.detail))")
            let readings = try find(linux, "chip:\(name):readings")
            try expectEqual(readings.status, .ok, "\(readings.title) (\(readings.detail))")
        }
        // The stub's third address (0x1D) is in no board file: an unknown, unexpected device.
        let unexpected = linux.checks.filter { $0.id.hasPrefix("bus:\(busPath):unexpected:") }
        let listed: Set<UInt8> = [0x76, 0x53]
        try expectEqual(unexpected.map(\.id), planted.filter { !listed.contains($0) }.map { "bus:\(busPath):unexpected:\(I2CAddress($0))" },
                        "unexpected-device warnings")
        try expect(unexpected.allSatisfy { $0.status == .warn && $0.detail.hasPrefix("unknown device") },
                   "unexpected devices: \(unexpected.map(\.detail))")
        hil.emit("  linux: \(scan.status.rawValue) \(scan.id) — \(scan.detail)")
    }

    hil.check("doctor.removed-chip-same-verdict-as-simulated-board") {
        let real = try find(linux, "chip:\(removed):present")
        let twin = try find(simulated, "chip:\(removed):present")
        show("linux    ", real)
        show("simulated", twin)
        try expectEqual(real.status, .fail, "status on the linux board")
        try expect(real.detail.contains("no ACK at 0x44 on \(busPath)"), "an absent address is an address NACK: \(real.detail)")
        try expectEqual(real.status, twin.status, "status linux vs simulated")
        try expectEqual(real.detail, twin.detail, "detail linux vs simulated")
        try expectEqual(real.fix, twin.fix, "fix linux vs simulated")
    }

    hil.check("doctor.busy-line-same-verdict-as-simulated-board") {
        let real = try find(linux, "gpio:alarm")
        let twin = try find(simulated, "gpio:alarm")
        show("linux    ", real)
        show("simulated", twin)
        try expectEqual(real.status, .fail, "status on the linux board")
        try expectEqual(real.status, twin.status, "status linux vs simulated")
        for (side, check) in [("linux", real), ("simulated", twin)] {
            try expect(check.detail.contains("held by consumer '\(holder)'"), "\(side) detail names the holder: \(check.detail)")
        }
        // The one allowed difference: a real chip's error names it as the kernel does
        // (gpiochipN), a simulated one as the board file does (here its label); `gpioinfo` takes both.
        let realFix = real.fix?.replacing("gpioinfo \(gpioChipName)'", with: "gpioinfo \(gpioLabel)'")
        try expectEqual(realFix, twin.fix, "fix linux (chip \(gpioChipName) named as '\(gpioLabel)') vs simulated")
        if real.fix != twin.fix {
            hil.emit("  note: the fixes differ only in the chip: '\(gpioChipName)' (kernel name) on linux, '\(gpioLabel)' (board file) simulated")
        }
    }
}

/// The HIL board as a board file: the same buses, chips and lines for both backends; the
/// simulated one plants the faults the guest sets up for real.
func boardYAML(_ backend: BoardFile.Backend, bus: String, gpio: String) -> String {
    var text = """
        board: hil-\(backend.rawValue)
        device_id: hil-01
        backend: \(backend.rawValue)
        i2c:
          - bus: \(bus)
            chips:
              - { name: ambient, chip: BME280, address: 0x76 }
              - { name: motor, chip: ADXL345, address: 0x53 }
              - { name: duct, chip: SHT31, address: 0x44 }
        gpio:
          chip: \(gpio)
          status_led: { line: 0 }
          button: { line: 1 }
          alarm: { line: 2 }

        """
    if backend == .simulated {
        text += """
            simulation:
              seed: 4
              time_scale: 0
              faults:
                - { chip: duct, kind: absent }
                - { line: alarm, kind: line_busy, consumer: hil-holder }

            """
    }
    return text
}
