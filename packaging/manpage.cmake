# Writes tetherd's man page (roff) from its --help output.
#   cmake -DTETHERD=path/to/tetherd -DOUT=tetherd.1 -DVERSION=x.y.z -P manpage.cmake
execute_process(COMMAND "${TETHERD}" --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR help STREQUAL "")
  message(FATAL_ERROR "tetherd --help failed (${rc})")
endif()
# roff: a backslash is \e; a line may not start with a control character.
string(REPLACE "\\" "\\e" help "${help}")
string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" help "${help}")
string(REGEX REPLACE "^usage: [^\n]*\n" "" description "${help}")
file(WRITE "${OUT}" ".TH TETHERD 1 \"\" \"tetherd ${VERSION}\" \"User Commands\"
.SH NAME
tetherd \\- HTTP/1.1 server built on the tether library
.SH SYNOPSIS
.B tetherd
[\\fB\\-\\-flag\\fR \\fIvalue\\fR | \\fB\\-\\-flag\\fR=\\fIvalue\\fR]...
.SH DESCRIPTION
.nf
${description}.fi
.SH SIGNALS
SIGINT and SIGTERM stop the server gracefully: it stops accepting, answers the requests in
flight (up to \\fB\\-\\-drain\\-timeout\\-ms\\fR) and exits 0.
.SH EXIT STATUS
0 after a graceful stop; 1 when the server cannot start (a port in use, a bad flag).
")
