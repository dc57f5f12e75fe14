#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import HAL
import HALLinux

/// LinuxGPIOChip and its lines against the kernel's gpio-sim. The init script
/// creates one bank labelled HIL_GPIO_LABEL with 8 lines named led, button, alarm, held, door,
/// debounced; HIL_GPIO_SIM is the sysfs folder with `sim_gpioN/{pull,value}` (the world's side).
func gpioChecks(_ hil: HILRunner) {
    var opened: LinuxGPIOChip?
    var simulation = ""

    hil.check("gpio.open-by-label-name-path-number") {
        let label = try environment("HIL_GPIO_LABEL")
        simulation = try environment("HIL_GPIO_SIM")
        let chip = try LinuxGPIOChip(label)
        opened = chip
        try expectEqual(chip.label, label, "label")
        try expectEqual(chip.lineCount, 8, "line count")
        try expectEqual(try LinuxGPIOChip(chip.name).label, label, "opened by name \(chip.name)")
        try expectEqual(try LinuxGPIOChip("/dev/\(chip.name)").label, label, "opened by path")
        let number = String(chip.name.drop { !$0.isNumber })
        try expectEqual(try LinuxGPIOChip(number).label, label, "opened by number \(number)")
    }
    guard let chip = opened else { return }
    func sim(_ offset: Int, _ attribute: String) -> String { "\(simulation)/sim_gpio\(offset)/\(attribute)" }

    hil.check("gpio.line-by-name") {
        try expectEqual(try chip.offset(ofLineNamed: "led"), 0, "offset of 'led'")
        try expectEqual(try chip.offset(ofLineNamed: "debounced"), 5, "offset of 'debounced'")
        do {
            _ = try chip.offset(ofLineNamed: "no-such-line")
            throw HILRunner.Failure("found a line that does not exist")
        } catch let error as GPIOError {
            try expectEqual(error.kind, .noSuchLine, "kind (\(error))")
        }
    }

    hil.check("gpio.output-drives-the-simulated-pin") {
        let led = try chip.requestOutput(GPIOLineConfig(offset: 0), initial: false)
        try expectEqual(try readAttribute(sim(0, "value")), "0", "pin after request(initial: false)")
        try led.set(true)
        try expectEqual(try readAttribute(sim(0, "value")), "1", "pin after set(true)")
        try led.set(false)
        try expectEqual(try readAttribute(sim(0, "value")), "0", "pin after set(false)")
        try expectEqual(try chip.consumer(ofLine: 0), "fieldagent", "consumer shown to gpioinfo")
    }

    hil.check("gpio.output-active-low") {
        let alarm = try chip.requestOutput(GPIOLineConfig(offset: 2, activeLow: true), initial: false)
        try expectEqual(try readAttribute(sim(2, "value")), "1", "logical false on active-low is a high pin")
        try alarm.set(true)
        try expectEqual(try readAttribute(sim(2, "value")), "0", "logical true on active-low is a low pin")
        try expect(alarm.value, "value remembers the logical level")
    }

    hil.check("gpio.input-rising-and-falling-edges") {
        let button = try chip.requestInput(GPIOLineConfig(offset: 1))
        try expect(try !button.get(), "pulled down at start")
        try writeAttribute(sim(1, "pull"), "pull-up")
        try expectEqual(try button.waitForEdge(timeout: .seconds(5))?.edge, .rising, "edge after pull-up")
        try expect(try button.get(), "high after pull-up")
        try writeAttribute(sim(1, "pull"), "pull-down")
        try expectEqual(try button.waitForEdge(timeout: .seconds(5))?.edge, .falling, "edge after pull-down")
        try expect(try !button.get(), "low after pull-down")
    }

    hil.check("gpio.input-active-low") {
        let door = try chip.requestInput(GPIOLineConfig(offset: 4, activeLow: true))
        try expect(try door.get(), "a pulled-down active-low input reads true")
        try writeAttribute(sim(4, "pull"), "pull-up")
        try expectEqual(try door.waitForEdge(timeout: .seconds(5))?.edge, .falling, "logical edge after pull-up")
        try expect(try !door.get(), "false after pull-up")
    }

    hil.check("gpio.wait-blocks-without-busy-polling") {
        let quiet = try chip.requestInput(GPIOLineConfig(offset: 6))
        let wall = clockNow(CLOCK_MONOTONIC)
        let cpu = clockNow(CLOCK_PROCESS_CPUTIME_ID)
        let edge = try quiet.waitForEdge(timeout: .milliseconds(500))
        let waited = clockNow(CLOCK_MONOTONIC) - wall
        let used = clockNow(CLOCK_PROCESS_CPUTIME_ID) - cpu
        try expect(edge == nil, "no edge expected on a quiet line, got \(String(describing: edge))")
        try expect(waited >= .milliseconds(480), "returned after \(waited), before the 500 ms timeout")
        try expect(used < .milliseconds(50), "used \(used) of CPU while waiting \(waited): busy polling")
    }

    hil.check("gpio.debounce-drops-edges-inside-the-interval") {
        let input = try chip.requestInput(GPIOLineConfig(offset: 5, debounce: .seconds(1)))
        try writeAttribute(sim(5, "pull"), "pull-up")
        guard let first = try input.waitForEdge(timeout: .seconds(5)) else { throw HILRunner.Failure("no first edge") }
        try expectEqual(first.edge, .rising, "first edge")
        try writeAttribute(sim(5, "pull"), "pull-down")  // bounce: inside 1 s, dropped
        try expect(try input.waitForEdge(timeout: .milliseconds(300)) == nil, "falling edge inside the interval was reported")
        try writeAttribute(sim(5, "pull"), "pull-up")
        try expect(try input.waitForEdge(timeout: .milliseconds(300)) == nil, "second rising edge was reported")
        // Let the interval pass on the kernel's clock, then a real change counts again.
        let rest = first.time + .milliseconds(1100) - clockNow(CLOCK_MONOTONIC)
        if rest > .zero { try expect(try input.waitForEdge(timeout: rest) == nil, "edge while resting") }
        try writeAttribute(sim(5, "pull"), "pull-down")
        guard let second = try input.waitForEdge(timeout: .seconds(5)) else { throw HILRunner.Failure("no edge after the interval") }
        try expectEqual(second.edge, .falling, "edge after the interval")
        try expect(second.time - first.time >= .seconds(1), "accepted edges \(second.time - first.time) apart")
    }

    hil.check("gpio.busy-line-names-its-holder") {
        let other = try LinuxGPIOChip(chip.label)  // a second handle: the kernel sees another request
        let held = try other.requestOutput(GPIOLineConfig(offset: 3, consumer: "hil-holder"))
        do {
            _ = try chip.requestOutput(GPIOLineConfig(offset: 3))
            throw HILRunner.Failure("requested a line another consumer holds")
        } catch let error as GPIOError {
            try expectEqual(error.kind, .busy, "kind (\(error))")
            try expect(error.detail.contains("held by consumer 'hil-holder'"), "holder named: \(error)")
        }
        try expectEqual(try chip.consumer(ofLine: 3), "hil-holder", "consumer(ofLine:)")
        _ = held
    }

    hil.check("gpio.line-released-on-deinit") {
        // The holder of the previous check is gone: the line must be free again.
        let holder = try chip.consumer(ofLine: 3)
        try expect(holder == nil, "line 3 still held by \(holder ?? "")")
        let line = try chip.requestOutput(GPIOLineConfig(offset: 3))
        try line.set(true)
        try expectEqual(try readAttribute(sim(3, "value")), "1", "pin after set(true)")
    }

    hil.check("gpio.missing-chip-lists-chips-present") {
        do {
            _ = try LinuxGPIOChip("no-such-chip")
            throw HILRunner.Failure("opened a chip that does not exist")
        } catch let error as GPIOError {
            try expectEqual(error.kind, .noSuchChip, "kind (\(error))")
            try expect(error.detail.contains("\(chip.name) (\(chip.label), 8 lines)"), "chip list: \(error)")
        }
        do {
            _ = try chip.requestInput(GPIOLineConfig(offset: 8))
            throw HILRunner.Failure("requested line 8 of 8")
        } catch let error as GPIOError {
            try expectEqual(error.kind, .noSuchLine, "kind (\(error))")
        }
    }
}
