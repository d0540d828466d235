// The whole public C++ API of the shmring transport.
#pragma once

#include "shmring/endpoint.hpp"
#include "shmring/error.hpp"
#include "shmring/handles.hpp"
#include "shmring/listener.hpp"
#include "shmring/options.hpp"
#include "shmring/status.hpp"
#include "shmring/waiting.hpp"
