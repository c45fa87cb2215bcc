#!/usr/bin/env python3
"""Writes the malformed/tortuous SIP corpus of tests/malformed.rs.

Our own messages, written by the categories of RFC 4475 (valid but
tortuous, invalid, transaction and application semantics). Each file is
one datagram; expected.tsv gives the final status the node must answer
with ("none": dropped without an answer) and why. Run it again after
editing; line ends become CRLF. Every message has its own branch and
Call-ID so that none is taken for a retransmission of another.
"""
import itertools

counter = itertools.count(1)
VIA = 'Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKtorture{n}\n'
SDP = 'v=0\no=t 1 1 IN IP4 192.0.2.2\ns=-\nc=IN IP4 192.0.2.2\nt=0 0\nm=audio 4000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n'


def base(method='OPTIONS', uri='sip:nobody@192.0.2.1', extra='', cseq=None, body='', via=None,
         to='<sip:nobody@192.0.2.1>', ctype='application/sdp', cl=None):
    n = next(counter)
    via = VIA.format(n=n) if via is None else via
    cseq = cseq or f'7 {method}'
    cl = len(body.replace('\n', '\r\n')) if cl is None else cl
    ct = f'Content-Type: {ctype}\n' if body else ''
    return (f'{method} {uri} SIP/2.0\n{via}Max-Forwards: 70\nTo: {to}\n'
            f'From: "Torture" <sip:torture@192.0.2.2>;tag=tt{n}\nCall-ID: torture-{n}@192.0.2.2\n'
            f'CSeq: {cseq}\nContact: <sip:torture@192.0.2.2>\n{extra}{ct}Content-Length: {cl}\n\n{body}')


cases = {
    # valid but tortuous: understood and answered
    'valid-wsinv': (base('INVITE', extra='Subject:\n   lws folded\n   subject line\nUnknownHeaderWithUnusualValue: ;;,,;;,;\n', body=SDP).replace('Max-Forwards: 70', 'Max-Forwards:     70'), '404', 'folding, odd whitespace, unknown header; the number is unknown'),
    'valid-compact': ('OPTIONS sip:nobody@192.0.2.1 SIP/2.0\nv: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKcompact\nt: <sip:nobody@192.0.2.1>\nf: <sip:torture@192.0.2.2>;tag=c1\ni: compact-1@192.0.2.2\nCSeq: 1 OPTIONS\nm: <sip:torture@192.0.2.2>\nl: 0\n\n', '200', 'compact header forms'),
    'valid-escaped-uri': (base('OPTIONS', uri='sip:sips%3Auser%40example.com@192.0.2.1;other-param=summit'), '200', 'escaped characters in the Request-URI'),
    'valid-ipv6': (base('OPTIONS', uri='sip:[2001:db8::10]:5070', via='Via: SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKv6\n').replace('<sip:torture@192.0.2.2>;tag', '<sip:torture@[2001:db8::9:1]>;tag'), '200', 'IPv6 literals'),
    'valid-quoted-params': (base('OPTIONS').replace('Contact: <sip:torture@192.0.2.2>', 'Contact: <sip:torture@192.0.2.2>;+sip.instance="<urn:uuid:0C67446E-F1A1-11D9-94D3-000A95A0E128>";expires="600"'), '200', 'quoted Contact parameters from softphones'),
    'valid-comma-via': (base('OPTIONS', via='Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKcomma1, SIP/2.0/UDP 192.0.2.3;branch=z9hG4bKcomma2\n'), '200', 'two Via values in one header'),
    'valid-long-values': (base('OPTIONS', extra='X-Long: ' + 'a' * 3000 + '\n', to='"' + 'L' * 500 + '" <sip:nobody@192.0.2.1>'), '200', 'very long header values'),
    'valid-unknown-scheme-to': (base('OPTIONS', to='<nobodyknows:thisscheme>'), '200', 'an unknown scheme in To is not ours to judge'),
    'valid-2543-no-branch': (base('OPTIONS', via='Via: SIP/2.0/UDP 192.0.2.2:5060\n'), '200', 'RFC 2543 Via without branch'),
    'valid-max-forwards-zero': (base('OPTIONS').replace('Max-Forwards: 70', 'Max-Forwards: 0'), '200', 'a UAS answers OPTIONS at Max-Forwards 0'),
    'valid-extra-bytes': (base('OPTIONS') + 'trailing garbage after the message', '200', 'bytes past Content-Length are discarded (RFC 3261 18.3)'),
    'valid-dbl-request': (base('OPTIONS') + base('OPTIONS', uri='sip:second@192.0.2.1'), '200', 'two requests in one datagram: the first is answered'),
    'valid-tel-to': (base('OPTIONS', to='<tel:+34931234567>'), '200', 'a tel: URI in To'),
    'valid-no-blank-line': (base('OPTIONS').rstrip('\n'), '200', 'a datagram without the final blank line is still one message'),
    'valid-unknown-method': (base('NEWMETHOD'), '501', 'an extension method is not implemented'),
    'valid-known-unsupported': (base('SUBSCRIBE', extra='Event: presence\n'), '405', 'a method the node does not take'),
    'valid-register': (base('REGISTER', uri='sip:192.0.2.1'), '405', 'the node is not a registrar'),
    # invalid: refused with a status that names the problem
    'bad-content-length-long': (base('INVITE', body=SDP, cl=9999), '400', 'Content-Length beyond the datagram'),
    'bad-content-length-negative': (base('OPTIONS', cl=-999), '400', 'negative Content-Length'),
    'bad-content-length-twice': (base('OPTIONS').replace('Content-Length: 0', 'Content-Length: 0\nContent-Length: 5'), '400', 'two Content-Length values'),
    'bad-cseq-huge': (base('OPTIONS', cseq='36893488147419103232 OPTIONS'), '400', 'CSeq number over 2**31'),
    'bad-cseq-mismatch': (base('OPTIONS', cseq='7 INVITE'), '400', 'CSeq method differs from the request'),
    'bad-cseq-missing-number': (base('OPTIONS', cseq='OPTIONS'), '400', 'CSeq without a number'),
    'bad-max-forwards': (base('OPTIONS').replace('Max-Forwards: 70', 'Max-Forwards: 300'), '400', 'Max-Forwards out of range'),
    'bad-missing-call-id': (base('OPTIONS').replace('Call-ID: ', 'X-Not-Call-ID: '), '400', 'no Call-ID'),
    'bad-missing-from': (base('OPTIONS').replace('From: ', 'X-From: '), '400', 'no From'),
    'bad-two-call-ids': (base('OPTIONS').replace('CSeq:', 'Call-ID: another@192.0.2.2\nCSeq:'), '400', 'two Call-ID headers'),
    'bad-version': (base('OPTIONS').replace('SIP/2.0\nVia', 'SIP/7.0\nVia', 1), '505', 'unsupported SIP version'),
    'bad-request-line-spaces': (base('OPTIONS').replace('OPTIONS sip:nobody@192.0.2.1 SIP/2.0', 'OPTIONS  sip:nobody@192.0.2.1   SIP/2.0', 1), '400', 'extra spaces in the request line'),
    'bad-uri-with-spaces': (base('OPTIONS').replace('OPTIONS sip:nobody@192.0.2.1 SIP/2.0', 'OPTIONS sip:nobody@192.0.2.1;lr=x y SIP/2.0', 1), '400', 'unescaped space in the Request-URI'),
    'bad-uri-angle': (base('OPTIONS').replace('OPTIONS sip:nobody@192.0.2.1 SIP/2.0', 'OPTIONS <sip:nobody@192.0.2.1> SIP/2.0', 1), '416', 'Request-URI in angle brackets'),
    'bad-sips-uri': (base('OPTIONS', uri='sips:nobody@192.0.2.1'), '416', 'sips: needs TLS the node does not offer'),
    'bad-unknown-scheme': (base('OPTIONS', uri='nobodyknows:thisscheme'), '416', 'unknown Request-URI scheme'),
    'bad-require': (base('OPTIONS', extra='Require: nothingweknow, 100rel\n'), '420', 'a required extension we lack'),
    'bad-invite-body-type': (base('INVITE', body='hello', ctype='text/nobodyknowsthis'), '415', 'an INVITE body that is not SDP'),
    'bad-invite-no-contact': (base('INVITE', body=SDP).replace('Contact: <sip:torture@192.0.2.2>\n', ''), '400', 'INVITE without Contact'),
    'bad-invite-sdp': (base('INVITE', uri='sip:4102@192.0.2.1', body='v=0\nthis is not sdp\n'), '488', 'an SDP that does not parse'),
    'bad-invite-codec': (base('INVITE', uri='sip:4102@192.0.2.1', body=SDP.replace('RTP/AVP 0\na=rtpmap:0 PCMU/8000', 'RTP/AVP 18\na=rtpmap:18 G729/8000')), '488', 'no codec in common'),
    'bad-from-unquoted': (base('OPTIONS').replace('From: "Torture" <sip:torture', 'From: "Torture <sip:torture'), '400', 'unterminated quote in From'),
    'bad-to-uri': (base('OPTIONS', to='<sip:nobody@>'), '400', 'a To URI without host'),
    'bad-nul-in-header': (base('OPTIONS').replace('Max-Forwards: 70', 'Max-Forwards: 7\x000'), '400', 'NUL inside a header value'),
    # unanswerable: dropped
    'drop-no-via': (base('OPTIONS', via=''), 'none', 'without Via there is nowhere to answer'),
    'drop-response-garbage': ('SIP/2.0 99999 Weird\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx\n\n', 'none', 'a broken response is dropped'),
    'drop-stray-response': ('SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnotours\nFrom: <sip:a@b>;tag=1\nTo: <sip:c@d>;tag=2\nCall-ID: stray\nCSeq: 1 INVITE\nContent-Length: 0\n\n', 'none', 'a response to nothing we sent'),
    'drop-binary': (''.join(chr(c) for c in range(1, 256)) * 3, 'none', 'binary noise'),
    'drop-empty-start-line': ('\n\n\n\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKe\n\n', 'none', 'no start line'),
    # transaction and dialog semantics
    'sem-in-dialog-unknown': (base('BYE', to='<sip:nobody@192.0.2.1>;tag=nosuchdialog'), '481', 'BYE for a dialog that does not exist'),
    'sem-bye-out-of-dialog': (base('BYE'), '481', 'BYE without a To tag'),
    'sem-cancel-unknown': (base('CANCEL'), '481', 'CANCEL matching no INVITE'),
    'sem-info-out-of-dialog': (base('INFO'), '481', 'INFO outside a dialog'),
}

manifest = ['# name\texpected final status ("none": dropped unanswered)\twhy']
for name, (text, status, why) in cases.items():
    with open(f'{name}.sip', 'wb') as f:
        f.write(text.replace('\n', '\r\n').encode('latin-1'))
    manifest.append(f'{name}\t{status}\t{why}')
with open('expected.tsv', 'w') as f:
    f.write('\n'.join(manifest) + '\n')
print(f'{len(cases)} messages')
