import HAL
import HALSimulation
import Testing

@Suite struct SimulatedGPIOTests {
    let clock = VirtualClock(start: .seconds(1))
    let chip: SimulatedGPIOChip

    init() {
        chip = SimulatedGPIOChip(name: "gpiochip0", lineCount: 54, clock: clock)
    }

    @Test func activeLowOutputDrivesThePinLowForTrueAndRecordsPhysicalLevels() throws {
        let led = try chip.requestOutput(GPIOLineConfig(offset: 17, activeLow: true, consumer: "status-led"))
        // Initial logical false on an active-low line: the pin sits high.
        #expect(led.value == false)
        #expect(chip.level(17) == true)

        clock.advance(to: .seconds(2))
        try led.set(true)
        #expect(led.value == true)
        #expect(chip.level(17) == false)

        clock.advance(to: .milliseconds(2_500))
        try led.set(false)
        #expect(chip.level(17) == true)

        let history = chip.history(17)
        #expect(history.map(\.time) == [.seconds(1), .seconds(2), .milliseconds(2_500)])
        #expect(history.map(\.level) == [true, false, true])
        #expect(chip.history(18).isEmpty)
    }

    @Test func activeHighOutputFollowsItsValue() throws {
        let relay = try chip.requestOutput(GPIOLineConfig(offset: 22), initial: true)
        #expect(chip.level(22) == true)
        try relay.set(false)
        #expect(chip.level(22) == false)
        #expect(chip.history(22).map(\.level) == [true, false])
    }

    @Test func activeLowInputTurnsAPinPulledLowIntoALogicalRisingEdge() throws {
        // A button to GND with a pull-up idles high: released.
        chip.drive(27, true)
        let button = try chip.requestInput(GPIOLineConfig(offset: 27, activeLow: true, consumer: "button"))
        #expect(try button.get() == false)
        #expect(try button.waitForEdge(timeout: .zero) == nil)

        clock.advance(to: .seconds(3))
        chip.drive(27, false)  // pressed
        #expect(try button.get() == true)
        #expect(try button.waitForEdge(timeout: .seconds(1)) == GPIOEdgeEvent(edge: .rising, time: .seconds(3)))

        clock.advance(to: .seconds(4))
        chip.drive(27, true)  // released
        #expect(try button.get() == false)
        #expect(try button.waitForEdge(timeout: .seconds(1)) == GPIOEdgeEvent(edge: .falling, time: .seconds(4)))
    }

    @Test func edgesBeforeTheRequestAreNotReported() throws {
        chip.drive(5, true)
        clock.advance(by: .milliseconds(100))
        chip.drive(5, false)
        let input = try chip.requestInput(GPIOLineConfig(offset: 5))
        #expect(try input.waitForEdge(timeout: .milliseconds(10)) == nil)
    }

    @Test func debounceDropsBounceAndDeliversLaterEdgesInOrderOneAtATime() throws {
        let input = try chip.requestInput(GPIOLineConfig(offset: 6, debounce: .milliseconds(20)))
        let start = clock.now
        // (ms after start, physical level): a press bouncing every 2 ms, a release bouncing, a second press.
        let drives: [(Int64, Bool)] = [
            (100, true), (102, false), (104, true), (106, false), (108, true),
            (300, false), (302, true), (304, false),
            (500, true),
        ]
        for (ms, level) in drives {
            clock.advance(to: start + .milliseconds(ms))
            chip.drive(6, level)
        }
        let queuedAt = clock.now
        let expected = [
            GPIOEdgeEvent(edge: .rising, time: start + .milliseconds(100)),
            GPIOEdgeEvent(edge: .falling, time: start + .milliseconds(300)),
            GPIOEdgeEvent(edge: .rising, time: start + .milliseconds(500)),
        ]
        for edge in expected {
            #expect(try input.waitForEdge(timeout: .seconds(1)) == edge)
        }
        // Delivering queued edges takes no time; only the empty wait advances the clock.
        #expect(clock.now == queuedAt)
        #expect(try input.waitForEdge(timeout: .seconds(1)) == nil)
        #expect(clock.now == queuedAt + .seconds(1))
    }

    @Test func edgesFartherApartThanTheDebounceAllArrive() throws {
        let input = try chip.requestInput(GPIOLineConfig(offset: 7, debounce: .milliseconds(20)))
        let start = clock.now
        for i in 1...6 {
            clock.advance(to: start + .milliseconds(Int64(i) * 25))
            chip.drive(7, i % 2 == 1)
        }
        var edges: [GPIOEdgeEvent] = []
        while let edge = try input.waitForEdge(timeout: .milliseconds(1)) { edges.append(edge) }
        #expect(edges.map(\.edge) == [.rising, .falling, .rising, .falling, .rising, .falling])
        #expect(edges.map(\.time) == (1...6).map { start + .milliseconds(Int64($0) * 25) })
    }

    @Test func waitingWithNothingQueuedAdvancesTheClockByTheTimeout() throws {
        let input = try chip.requestInput(GPIOLineConfig(offset: 8))
        clock.advance(to: .seconds(5))
        #expect(try input.waitForEdge(timeout: .milliseconds(250)) == nil)
        #expect(clock.now == .milliseconds(5_250))
        #expect(try input.waitForEdge(timeout: .seconds(2)) == nil)
        #expect(clock.now == .milliseconds(7_250))
    }

    @Test func aLineHeldByAnotherProgramIsBusyAndNamesItsConsumer() throws {
        chip.hold(4, consumer: "pigpiod")
        let asOutput = #expect(throws: GPIOError.self) {
            try chip.requestOutput(GPIOLineConfig(offset: 4))
        }
        #expect(asOutput?.kind == .busy)
        #expect(asOutput?.offset == 4)
        #expect(asOutput?.description.contains("pigpiod") == true)
        #expect(asOutput?.description.hasPrefix("gpiochip0 line 4") == true)
        let asInput = #expect(throws: GPIOError.self) {
            try chip.requestInput(GPIOLineConfig(offset: 4))
        }
        #expect(asInput?.kind == .busy)
        // Other lines are free.
        _ = try chip.requestOutput(GPIOLineConfig(offset: 3))
    }

    @Test func aLineIsBusyWhileWeHoldItAndFreeOnceTheLineObjectIsGone() throws {
        var led: SimulatedOutputLine? = try chip.requestOutput(GPIOLineConfig(offset: 12, consumer: "led"))
        let second = #expect(throws: GPIOError.self) {
            try chip.requestInput(GPIOLineConfig(offset: 12, consumer: "other"))
        }
        #expect(second?.kind == .busy)
        #expect(second?.description.contains("led") == true)
        #expect(led != nil)
        led = nil
        #expect(led == nil)
        let again = try chip.requestInput(GPIOLineConfig(offset: 12, consumer: "other"))
        #expect(again.config.consumer == "other")

        var button: SimulatedInputLine? = try chip.requestInput(GPIOLineConfig(offset: 13))
        #expect(throws: GPIOError.self) { try chip.requestOutput(GPIOLineConfig(offset: 13)) }
        #expect(button != nil)
        button = nil
        #expect(button == nil)
        _ = try chip.requestOutput(GPIOLineConfig(offset: 13))
    }

    @Test func offsetsOutsideTheChipAreNoSuchLine() throws {
        for offset in [54, 200, -1] {
            let output = #expect(throws: GPIOError.self) { try chip.requestOutput(GPIOLineConfig(offset: offset)) }
            #expect(output?.kind == .noSuchLine)
            #expect(output?.offset == offset)
            let input = #expect(throws: GPIOError.self) { try chip.requestInput(GPIOLineConfig(offset: offset)) }
            #expect(input?.kind == .noSuchLine)
        }
        let error = #expect(throws: GPIOError.self) { try chip.requestInput(GPIOLineConfig(offset: 54)) }
        #expect(error?.description.contains("0…53") == true)
        // The last line exists.
        _ = try chip.requestInput(GPIOLineConfig(offset: 53))
    }
}
