// Umbrella header: everything a user of tether includes.
#pragma once

#include "tether/log.hpp"
#include "tether/mailbox.hpp"
#include "tether/method.hpp"
#include "tether/options.hpp"
#include "tether/request.hpp"
#include "tether/response.hpp"
#include "tether/response_record.hpp"
#include "tether/router.hpp"
#include "tether/server.hpp"
#include "tether/stats.hpp"
#include "tether/status.hpp"
#include "tether/stream.hpp"
#include "tether/stream_writer.hpp"
#include "tether/topic.hpp"
#include "tether/version.hpp"
