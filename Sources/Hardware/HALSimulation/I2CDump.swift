/// A register image parsed from the text `i2cdump -y BUS ADDR` prints (byte mode):
///
/// ```
///      0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f    0123456789abcdef
/// 00: 70 6b 43 67 18 fc 7d 8e 43 d6 d0 0b 27 0b 8c 00    pkCg??}?C??'??.
/// ```
/// `XX` marks a byte the chip did not return; those stay `nil`. A dump captured on a board in the
/// field can be loaded into a chip model and replayed in the simulator.
public struct I2CDump: Equatable, Sendable {
    public var bytes: [UInt8?]

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "i2cdump line \(line): \(reason)" }
        public init(line: Int, reason: String) {
            self.line = line
            self.reason = reason
        }
    }

    public init(bytes: [UInt8?]) {
        self.bytes = bytes
    }

    public init(parsing text: String) throws(ParseError) {
        var bytes = [UInt8?](repeating: nil, count: 256)
        var rows = 0
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingPrefix(while: { $0 == " " })
            guard let colon = line.firstIndex(of: ":"), line.distance(from: line.startIndex, to: colon) == 2 else {
                continue  // header, blank line, or the "No size specified" preamble
            }
            guard let base = UInt8(line[line.startIndex..<colon], radix: 16), base % 16 == 0 else {
                throw ParseError(line: index + 1, reason: "row label '\(line[line.startIndex..<colon])' is not a multiple of 0x10")
            }
            let fields = line[line.index(after: colon)...].split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 16 else {
                throw ParseError(line: index + 1, reason: "expected 16 bytes after '\(line[line.startIndex..<colon]):', found \(fields.count)")
            }
            for (column, field) in fields.prefix(16).enumerated() {
                if field == "XX" { continue }
                guard field.count == 2, let value = UInt8(field, radix: 16) else {
                    throw ParseError(line: index + 1, reason: "'\(field)' is not a hex byte or XX")
                }
                bytes[Int(base) + column] = value
            }
            rows += 1
        }
        guard rows > 0 else {
            throw ParseError(line: 1, reason: "no register rows found; expected the output of 'i2cdump -y BUS ADDR'")
        }
        self.bytes = bytes
    }

    /// The text `i2cdump` prints for these bytes (rows with no byte left out; `XX` for a
    /// missing one): what ``init(parsing:)`` reads back.
    public var text: String {
        func hex(_ value: Int) -> String {
            let digits = Array("0123456789abcdef")
            return String([digits[(value >> 4) & 0xF], digits[value & 0xF]])
        }
        var lines = ["     0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f    0123456789abcdef"]
        for row in stride(from: 0, to: bytes.count, by: 16) {
            let slice = bytes[row..<min(row + 16, bytes.count)]
            guard slice.contains(where: { $0 != nil }) else { continue }
            let cells = slice.map { $0.map { hex(Int($0)) } ?? "XX" }
            let ascii = slice.map { byte -> String in
                guard let byte else { return "X" }
                return (0x20...0x7E).contains(byte) ? String(UnicodeScalar(byte)) : "."
            }
            lines.append(hex(row) + ": " + cells.joined(separator: " ") + "    " + ascii.joined())
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `count` bytes from `start`, or nil if any of them is missing from the dump.
    public func slice(_ start: Int, count: Int) -> [UInt8]? {
        guard start >= 0, start + count <= bytes.count else { return nil }
        let part = bytes[start..<start + count]
        return part.contains(nil) ? nil : part.map { $0! }
    }
}
