import Testing
@testable import Predictor

struct JSONParserTests {
    @Test func parsesEscapesNumbersAndSurrogates() throws {
        let v = try JSONParser.parse(#" {"a":[true,false,null,-0.5e2,12],"s":"q\"\\\/\n\u00e9\ud83d\ude00"} "#)
        #expect(v["a"] == .array([.bool(true), .bool(false), .null, .number(-50), .number(12)]))
        #expect(v["s"] == .string("q\"\\/\n\u{e9}\u{1F600}"))
    }

    @Test func numbersRoundTripExactly() throws {
        for d in [0.1, 1e-7, 1.7976931348623157e308, 0.30000000000000004, -2.5, 123_456_789.125] {
            var w = JSONWriter()
            w.write(.number(d))
            #expect(try JSONParser.parse(w.bytes) == .number(d), "\(d) as \(String(decoding: w.bytes, as: UTF8.self))")
        }
    }

    @Test(arguments: ["", "01", "1.", "-", "[1,]", "{\"a\":1,}", "\"\u{01}\"", "\"\\x\"", "tru", "1e", "\"\\ud800\"", "{'a':1}", "1e999"])
    func refusesInvalidText(_ text: String) {
        #expect(throws: JSONParseError.self, "\(text)") { try JSONParser.parse(text) }
    }
}
