import HAL
import HALLinux
import Testing

/// The SMBus mapping of issue 4, one test per rule and per refusal. Size codes and direction values
/// are transcribed from the kernel's <linux/i2c.h> (I2C_SMBUS_READ 1, WRITE 0; QUICK 0, BYTE 1,
/// BYTE_DATA 2, I2C_BLOCK_DATA 8).
@Suite struct SMBusPlanTests {
    let stub = I2CFunctionality(rawValue: 0x0C7F_0000)

    func plan(_ operations: [I2COperation], _ functionality: I2CFunctionality? = nil) -> Result<[SMBusStep], SMBusPlanError> {
        SMBusPlan.plan(operations, functionality: functionality ?? stub)
    }

    func reason(_ result: Result<[SMBusStep], SMBusPlanError>) -> String? {
        if case .failure(let error) = result { return error.reason }
        return nil
    }

    // MARK: Mappings

    @Test func registerReadOfOneByteIsReadByteData() {
        #expect(plan([.write([0xD0]), .read(count: 1)]) == .success([.readByteData(command: 0xD0)]))
        let request = SMBusStep.readByteData(command: 0xD0).request
        #expect(request.readWrite == 1 && request.command == 0xD0 && request.size == 2)
        #expect(request.data.count == 34)
    }

    @Test func registerBurstIsI2CBlockReadUpTo32() {
        #expect(plan([.write([0x88]), .read(count: 26)]) == .success([.readI2CBlock(command: 0x88, count: 26)]))
        #expect(plan([.write([0x00]), .read(count: 32)]) == .success([.readI2CBlock(command: 0x00, count: 32)]))
        #expect(plan([.write([0x32]), .read(count: 2)]) == .success([.readI2CBlock(command: 0x32, count: 2)]))
        let request = SMBusStep.readI2CBlock(command: 0x88, count: 26).request
        #expect(request.readWrite == 1 && request.size == 8)
        #expect(request.data[0] == 26, "block[0] tells the kernel how many bytes to read")
    }

    @Test func registerWriteOfOneValueIsWriteByteData() {
        #expect(plan([.write([0xF4, 0x27])]) == .success([.writeByteData(command: 0xF4, value: 0x27)]))
        let request = SMBusStep.writeByteData(command: 0xF4, value: 0x27).request
        #expect(request.readWrite == 0 && request.command == 0xF4 && request.size == 2 && request.data[0] == 0x27)
    }

    @Test func registerWriteOfSeveralValuesIsI2CBlockWrite() {
        let values: [UInt8] = Array(1...32)
        #expect(plan([.write([0x88] + values)]) == .success([.writeI2CBlock(command: 0x88, bytes: values)]))
        #expect(plan([.write([0x1E, 1, 2])]) == .success([.writeI2CBlock(command: 0x1E, bytes: [1, 2])]))
        let request = SMBusStep.writeI2CBlock(command: 0x1E, bytes: [0xAA, 0xBB]).request
        #expect(request.readWrite == 0 && request.size == 8)
        #expect(Array(request.data[0...2]) == [2, 0xAA, 0xBB], "block[0] = length, then the data")
    }

    @Test func singleByteReadIsReceiveByte() {
        #expect(plan([.read(count: 1)]) == .success([.receiveByte]))
        let request = SMBusStep.receiveByte.request
        #expect(request.readWrite == 1 && request.size == 1)
    }

    @Test func singleByteWriteIsSendByte() {
        #expect(plan([.write([0xB6])]) == .success([.sendByte(0xB6)]))
        let request = SMBusStep.sendByte(0xB6).request
        #expect(request.readWrite == 0 && request.command == 0xB6 && request.size == 1)
    }

    @Test func emptyWriteIsQuickWrite() {
        #expect(plan([.write([])]) == .success([.quickWrite]))
        #expect(SMBusStep.quickWrite.request.size == 0)
    }

    @Test func fallsBackToI2CBlockWhenByteDataIsMissing() {
        let blocksOnly: I2CFunctionality = [.smbusReadI2CBlock, .smbusWriteI2CBlock]
        #expect(plan([.write([0xD0]), .read(count: 1)], blocksOnly) == .success([.readI2CBlock(command: 0xD0, count: 1)]))
        #expect(plan([.write([0xF4, 0x27])], blocksOnly) == .success([.writeI2CBlock(command: 0xF4, bytes: [0x27])]))
    }

    // MARK: Decoding what the kernel filled in

    @Test func readResultsComeFromTheUnionImage() {
        var data = [UInt8](repeating: 0, count: 34)
        data[0] = 0x60
        #expect(SMBusStep.readByteData(command: 0xD0).readResult(data) == [0x60])
        #expect(SMBusStep.receiveByte.readResult(data) == [0x60])
        data[0] = 3; data[1] = 0xE5; data[2] = 0x01; data[3] = 0x02
        #expect(SMBusStep.readI2CBlock(command: 0, count: 3).readResult(data) == [0xE5, 0x01, 0x02])
        #expect(SMBusStep.readI2CBlock(command: 0, count: 4).readResult(data) == nil, "short block read is reported")
        #expect(SMBusStep.writeByteData(command: 0, value: 0).readResult(data) == nil)
        #expect(SMBusStep.readI2CBlock(command: 0, count: 4).readCount == 4)
    }

    // MARK: Refusals

    @Test func plainMultiByteReadIsUnsupported() {
        #expect(reason(plan([.read(count: 6)]))?.contains("cannot read 6 bytes without a register number") == true)
    }

    @Test func twoByteCommandThenReadIsUnsupported() {
        // SHT3x: w[24 00] then r6 — SMBus cannot send a 16-bit command before a read.
        let why = reason(plan([.write([0x24, 0x00]), .read(count: 6)]))
        #expect(why?.contains("sends 2 (w[24 00])") == true)
    }

    @Test func readsBeyond32BytesAreUnsupported() {
        #expect(reason(plan([.write([0x00]), .read(count: 33)]))?.contains("1…32 bytes; this read asks for 33") == true)
        #expect(reason(plan([.write([0x00]), .read(count: 0)])) != nil)
    }

    @Test func writesBeyond32DataBytesAreUnsupported() {
        let why = reason(plan([.write([0x00] + [UInt8](repeating: 0, count: 33))]))
        #expect(why?.contains("at most 32 data bytes") == true)
    }

    @Test func otherShapesAreUnsupported() {
        #expect(reason(plan([])) != nil)
        #expect(reason(plan([.read(count: 1), .write([0x00])]))?.contains("r1 w[00]") == true)
        #expect(reason(plan([.write([0x00]), .read(count: 1), .read(count: 1)]))?.contains("3 operations") == true)
    }

    @Test(arguments: [
        ([I2COperation.write([0xD0]), .read(count: 1)], "read byte data 0xD0 needs I2C_FUNC_SMBUS_READ_BYTE_DATA or I2C_FUNC_SMBUS_READ_I2C_BLOCK"),
        ([.write([0x88]), .read(count: 26)], "I2C block read 0x88 (26 bytes) needs I2C_FUNC_SMBUS_READ_I2C_BLOCK"),
        ([.write([0xF4, 0x27])], "write byte data 0xF4=0x27 needs I2C_FUNC_SMBUS_WRITE_BYTE_DATA or I2C_FUNC_SMBUS_WRITE_I2C_BLOCK"),
        ([.write([0x88, 1, 2])], "I2C block write 0x88 (2 bytes) needs I2C_FUNC_SMBUS_WRITE_I2C_BLOCK"),
        ([.read(count: 1)], "receive byte needs I2C_FUNC_SMBUS_READ_BYTE"),
        ([.write([0xB6])], "send byte 0xB6 needs I2C_FUNC_SMBUS_WRITE_BYTE"),
        ([.write([])], "quick write needs I2C_FUNC_SMBUS_QUICK"),
    ])
    func missingFunctionalityIsNamed(operations: [I2COperation], expected: String) {
        let why = reason(plan(operations, I2CFunctionality(rawValue: 0)))
        #expect(why?.hasPrefix(expected) == true, "\(why ?? "planned")")
    }
}
