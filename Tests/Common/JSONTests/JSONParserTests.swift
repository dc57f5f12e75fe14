import JSON
import Testing

/// The strict parser (RFC 8259) the predictor's model files and predictor.v1 frames rely on.
struct JSONParserTests {
    @Test func parsesEscapesNumbersAndSurrogates() throws {
        let v = try JSONValue.parse(#" {"a":[true,false,null,-0.5e2,12,0.25],"s":"q\"\\\/\n\u00e9\ud83d\ude00"} "#)
        #expect(v["a"] == .array([.bool(true), .bool(false), .null, .integer(-50), .integer(12), .number(0.25)]))
        #expect(v["s"] == .string("q\"\\/\n\u{e9}\u{1F600}"))
    }

    @Test func numbersRoundTripExactly() throws {
        for d in [0.1, 1e-7, 1.7976931348623157e308, 0.30000000000000004, -2.5, 123_456_789.125, .leastNonzeroMagnitude] {
            let text = JSONValue.number(d).encoded()
            #expect(try JSONValue.parse(text) == .number(d), "\(d) as \(String(decoding: text, as: UTF8.self))")
        }
    }

    @Test(arguments: ["", "01", "1.", "-", "[1,]", "{\"a\":1,}", "\"\u{01}\"", "\"\\x\"", "tru", "1e", "\"\\ud800\"",
                      "\"\\udc00\"", "{'a':1}", "1e999", "NaN", "[1] x", "{\"a\":1,\"a\":2}", "// c\n1"])
    func refusesInvalidText(_ text: String) {
        #expect(throws: JSONValueError.self, "\(text)") { try JSONValue.parse(text) }
    }

    @Test func invalidUTF8InAStringIsRefusedWhereItStarts() {
        #expect {
            try JSONValue.parse([UInt8(ascii: "\""), UInt8(ascii: "a"), 0xC3, UInt8(ascii: "\"")])
        } throws: { error in
            (error as? JSONValueError)?.reason == "a string is not valid UTF-8" && (error as? JSONValueError)?.offset == 1
        }
    }

    @Test func errorsSayWhereParsingStopped() {
        #expect {
            try JSONValue.parse(#"{"v":1,"type":"sample","#)
        } throws: { error in
            guard let error = error as? JSONValueError else { return false }
            return error.offset == 23 && error.reason == "expected a member name"
                && error.description == #"not valid JSON (at byte 23: expected a member name): {"v":1,"type":"sample","#
        }
    }

    @Test func nestingIsBounded() throws {
        let deep = String(repeating: "[", count: 5) + String(repeating: "]", count: 5)
        #expect(try JSONValue.parse(deep, maxDepth: 5) != .null)
        #expect(throws: JSONValueError.self) { try JSONValue.parse(deep, maxDepth: 4) }
        let tooDeep = String(repeating: "[", count: 100_000)   // no stack overflow: refused at the bound
        #expect(throws: JSONValueError.self) { try JSONValue.parse(tooDeep) }
    }

    /// Tolerant parsing: well-formed values that cannot be represented are listed by path and
    /// read as null; the rest of the text is kept.
    @Test func tolerantParsingListsUndecodableValuesAndKeepsTheRest() throws {
        let (value, undecodable) = try JSONValue.parseTolerating(Array(#"{"a":1e999,"b":{"c":"\ud800","d":[1,"\q"]},"e":"ok"}"#.utf8))
        #expect(value["e"] == .string("ok"))
        #expect(value["a"] == .null)
        #expect(value["b"]?["d"] == .array([.integer(1), .null]))
        #expect(undecodable.map(\.path) == [["a"], ["b", "c"], ["b", "d", "1"]])
        #expect(undecodable[0].reason.contains("out of range"))
    }

    /// Malformed text is refused in tolerant mode too.
    @Test(arguments: ["{\"a\":\"unterminated", "{\"a\":\"\u{01}\"}", "{\"a\":1e}", "[1,]", "{\"a\":\"x\\\"}"])
    func tolerantParsingStillRefusesMalformedText(text: String) {
        #expect(throws: JSONValueError.self) { try JSONValue.parseTolerating(Array(text.utf8)) }
    }
}
