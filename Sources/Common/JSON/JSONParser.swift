/// A strict RFC 8259 parser: one value, optional surrounding whitespace, no trailing commas, no
/// comments, no NaN/Infinity, duplicate object keys refused, nesting depth bounded.
struct JSONParser {
    private let bytes: [UInt8]
    private var index = 0
    private let maxDepth: Int
    /// Tolerant mode only: well-formed values that cannot be represented, by member path.
    private var undecodable: [JSONUndecodableValue]?
    private var path: [String] = []

    static func parse(_ bytes: [UInt8], maxDepth: Int) throws(JSONValueError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        return try parser.parseDocument()
    }

    static func parseTolerating(_ bytes: [UInt8], maxDepth: Int) throws(JSONValueError) -> (JSONValue, [JSONUndecodableValue]) {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        parser.undecodable = []
        let value = try parser.parseDocument()
        return (value, parser.undecodable ?? [])
    }

    private mutating func parseDocument() throws(JSONValueError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        if index != bytes.count { throw fail("unexpected data after the value") }
        return value
    }

    /// A value that is well-formed JSON but cannot be represented: an error when strict; when
    /// tolerant, recorded against its member path and read as `null`.
    private mutating func unrepresentable(_ reason: String) throws(JSONValueError) -> JSONValue {
        guard undecodable != nil else { throw fail(reason) }
        undecodable?.append(JSONUndecodableValue(path: path, reason: reason))
        return .null
    }

    private init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    private func fail(_ reason: String, at offset: Int? = nil) -> JSONValueError {
        JSONValueError(text: String(decoding: bytes.prefix(200), as: UTF8.self), reason: reason, offset: offset ?? index)
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws(JSONValueError) -> JSONValue {
        guard index < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return try parseStringValue()
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail("unexpected character '\(Character(Unicode.Scalar(bytes[index])))'")
        }
    }

    private mutating func literal(_ word: String) throws(JSONValueError) {
        let w = Array(word.utf8)
        guard index + w.count <= bytes.count, Array(bytes[index..<index + w.count]) == w else {
            throw fail("expected '\(word)'")
        }
        index += w.count
    }

    private mutating func parseObject(depth: Int) throws(JSONValueError) -> JSONValue {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        index += 1
        var members = JSONObject()
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
            let key = try parseString()
            guard members[key] == nil else { throw fail("duplicate member \"\(key)\"") }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            path.append(key)
            members[key] = try parseValue(depth: depth)
            path.removeLast()
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of input in an object") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
            throw fail("expected ',' or '}'")
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONValueError) -> JSONValue {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
        while true {
            skipWhitespace()
            path.append(String(elements.count))
            elements.append(try parseValue(depth: depth))
            path.removeLast()
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of input in an array") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
            throw fail("expected ',' or ']'")
        }
    }

    /// An integral value that fits `Int64` is `.integer` however it is written (`5`, `5.0`, `5e0`);
    /// anything else is `.number`.
    private mutating func parseNumber() throws(JSONValueError) -> JSONValue {
        let start = index
        func digits(_ p: inout JSONParser) -> Int {
            let s = p.index
            while p.index < p.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.bytes[p.index]) { p.index += 1 }
            return p.index - s
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw fail("a number needs digits") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if digits(&self) == 0 {
            throw fail("a number needs digits")
        }
        var plainInteger = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            plainInteger = false
            index += 1
            guard digits(&self) > 0 else { throw fail("a fraction needs digits") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            plainInteger = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw fail("an exponent needs digits") }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if plainInteger, let integer = Int64(text) { return .integer(integer) }
        // Double(String) rounds correctly (strtod), so a threshold written with Python's repr()
        // reads back as the very same binary64.
        guard let value = Double(text), value.isFinite else { return try unrepresentable("number \(text.prefix(40)) is out of range") }
        if let integer = JSONWriter.exactInteger(value) { return .integer(integer) }
        return .number(value)
    }

    private mutating func parseStringValue() throws(JSONValueError) -> JSONValue {
        let start = index
        do {
            return .string(try parseString())
        } catch {
            guard undecodable != nil else { throw error }
            // Only a string that is well-formed (terminated, no raw control character) but
            // cannot be decoded (bad UTF-8 or escape) is tolerated.
            index = start + 1
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") { index += 1; return try unrepresentable(error.reason) }
                if byte < 0x20 { throw error }
                index += byte == UInt8(ascii: "\\") ? 2 : 1
            }
            throw error
        }
    }

    private mutating func parseString() throws(JSONValueError) -> String {
        index += 1
        var scalars = String.UnicodeScalarView()
        var runStart = index
        func flush(_ p: JSONParser, _ to: Int, _ out: inout String.UnicodeScalarView) throws(JSONValueError) {
            guard to > runStart else { return }
            guard let text = String(validating: p.bytes[runStart..<to], as: UTF8.self) else {
                throw p.fail("a string is not valid UTF-8", at: runStart)
            }
            out.append(contentsOf: text.unicodeScalars)
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                try flush(self, index, &scalars)
                index += 1
                return String(scalars)
            }
            if byte < 0x20 { throw fail("a control character inside a string must be escaped") }
            if byte == UInt8(ascii: "\\") {
                try flush(self, index, &scalars)
                index += 1
                guard index < bytes.count else { break }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{08}")
                case UInt8(ascii: "f"): scalars.append("\u{0C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800...0xDBFF).contains(code) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw fail("a high surrogate must be followed by a low surrogate")
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("invalid low surrogate") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw fail("invalid \\u escape") }
                    scalars.append(scalar)
                default:
                    throw fail("invalid escape '\\\(Character(Unicode.Scalar(escape)))'")
                }
                runStart = index
                continue
            }
            index += 1
        }
        throw fail("unterminated string")
    }

    private mutating func hex4() throws(JSONValueError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("\\u needs four hex digits") }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let digit: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw fail("\\u needs four hex digits")
            }
            code = code << 4 | digit
            index += 1
        }
        return code
    }
}
