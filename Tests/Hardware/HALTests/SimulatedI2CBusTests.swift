import HAL
import HALSimulation
import HALTesting
import Testing

final class EchoRegisters: SimulatedI2CDevice, @unchecked Sendable {
    let registers = RegisterFile()
    func write(_ bytes: [UInt8]) throws(I2CError) { try registers.busWrite(bytes) }
    func read(count: Int) throws(I2CError) -> [UInt8] { registers.busRead(count: count) }
}

@Suite struct SimulatedI2CBusTests {
    @Test func emptyAddressIsAnAddressNACKWithContext() {
        let bus = SimulatedI2CBus(name: "sim:i2c-1")
        do {
            _ = try bus.writeRead(I2CAddress(0x76), [0xD0], count: 1)
            Issue.record("expected a NACK")
        } catch {
            #expect(error.kind == .noAcknowledge(.address))
            #expect(error.bus == "sim:i2c-1")
            #expect(error.description == "no ACK on address at 0x76 on sim:i2c-1 (w[D0] r1)")
        }
        #expect((try? bus.probe(I2CAddress(0x76))) == false)
    }

    @Test func registerFileAutoIncrementsAndHonoursReadOnly() throws {
        let bus = SimulatedI2CBus(name: "sim")
        let chip = EchoRegisters()
        chip.registers.readOnly = [0x11]
        bus.attach(chip, at: I2CAddress(0x53))
        try bus.write(I2CAddress(0x53), [0x10, 0xAA, 0xBB, 0xCC])
        #expect(try bus.writeRead(I2CAddress(0x53), [0x10], count: 3) == [0xAA, 0x00, 0xCC])
        #expect(try bus.probe(I2CAddress(0x53)))
        bus.detach(I2CAddress(0x53))
        #expect(try bus.probe(I2CAddress(0x53)) == false)
    }

    @Test func scriptedBusReportsWhatWasNotSent() throws {
        let bus = ScriptedI2CBus([
            .init(0x76, [.write([0xD0]), .read(count: 1)], returns: [[0x60]]),
            .init(0x76, [.write([0xE0, 0xB6])]),
        ])
        #expect(try bus.writeRead(I2CAddress(0x76), [0xD0], count: 1) == [0x60])
        #expect(bus.done() == ["expected but never sent: 0x76 w[E0 B6]"])
    }

    @Test func debouncerDropsBounce() {
        var d = Debouncer(interval: .milliseconds(20), initialLevel: false)
        let ms = { (v: Int64) in Duration.milliseconds(v) }
        #expect(d.accept(.init(edge: .rising, time: ms(0))) != nil)
        #expect(d.accept(.init(edge: .falling, time: ms(2))) == nil)
        #expect(d.accept(.init(edge: .rising, time: ms(4))) == nil)
        #expect(d.accept(.init(edge: .falling, time: ms(100))) != nil)
    }
}
