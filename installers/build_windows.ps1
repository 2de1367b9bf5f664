<#
.SYNOPSIS
  Build Renewal Desk for Windows: the frozen app in dist\renewal-desk\ and the installer
  dist\RenewalDesk-Setup-<version>.exe.

.DESCRIPTION
  Needs, on a Windows 10/11 x64 machine:
    * Python 3.11+ with the app and PyInstaller installed, e.g. from the checkout:
        py -3 -m venv .venv; .venv\Scripts\pip install -e ".[build]"
      (the script uses .venv\Scripts\python.exe when there is one; -Python overrides);
    * Inno Setup 6: ISCC.exe on PATH, in its default folder, or named by $env:ISCC.

  Steps: freeze with installers\renewal-desk.spec, run the frozen app's --self-test
  offscreen (it must pass), then compile installers\windows\renewal-desk.iss with the
  version read from desktop_app\__init__.py.

  Code signing (optional): set $env:WINDOWS_SIGN_CERT_SHA1 to the thumbprint of a
  code-signing certificate in your certificate store and $env:WINDOWS_TIMESTAMP_URL to
  your CA's RFC 3161 time-stamp server; signtool.exe (Windows SDK) must be on PATH or
  named by $env:SIGNTOOL. The executables and the installer are then signed; without
  the certificate variable signing is skipped and said so.

.EXAMPLE
  powershell -ExecutionPolicy Bypass -File installers\build_windows.ps1
#>
[CmdletBinding()]
param(
    [string]$Python = "",
    [string]$DistDir = "",
    [string]$WorkDir = ""
)

$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest

$Root = Split-Path -Parent $PSScriptRoot
if (-not $DistDir) { $DistDir = Join-Path $Root "dist" }
if (-not $WorkDir) { $WorkDir = Join-Path $Root "build" }
if (-not $Python) {
    $venvPython = Join-Path $Root ".venv\Scripts\python.exe"
    $Python = if (Test-Path $venvPython) { $venvPython } else { "python" }
}

function Stop-Build([string]$Message) {
    [Console]::Error.WriteLine("build_windows.ps1: $Message")
    exit 1
}

# Runs a program; stops the build when it fails. Its output goes straight to the console
# (redirecting a native program's stderr in Windows PowerShell turns it into errors).
function Invoke-Step([string]$What, [string]$Program, [string[]]$Arguments) {
    & $Program @Arguments
    if ($LASTEXITCODE -ne 0) { Stop-Build "$What failed (exit code $LASTEXITCODE)." }
}

function Test-Import([string]$Modules) {
    $ErrorActionPreference = "Continue"
    & $Python -c "import $Modules" *> $null
    return ($LASTEXITCODE -eq 0)
}

function Find-Program([string]$EnvName, [string]$Name, [string[]]$Candidates) {
    $fromEnv = [Environment]::GetEnvironmentVariable($EnvName)
    if ($fromEnv) {
        if (Test-Path $fromEnv) { return $fromEnv }
        Stop-Build "$EnvName points at $fromEnv, which does not exist."
    }
    $onPath = Get-Command $Name -ErrorAction SilentlyContinue
    if ($onPath) { return $onPath.Source }
    foreach ($candidate in $Candidates) {
        if ($candidate -and (Test-Path $candidate)) { return $candidate }
    }
    return $null
}

function Invoke-Signing([string[]]$Files) {
    $thumbprint = $env:WINDOWS_SIGN_CERT_SHA1
    if (-not $thumbprint) {
        Write-Host "WINDOWS_SIGN_CERT_SHA1 is not set: skipping signing of $($Files.Count) file(s)."
        return
    }
    if (-not $env:WINDOWS_TIMESTAMP_URL) {
        Stop-Build "WINDOWS_SIGN_CERT_SHA1 is set but WINDOWS_TIMESTAMP_URL is not; signatures need a time stamp."
    }
    $kits = Join-Path ${env:ProgramFiles(x86)} "Windows Kits\10\bin"
    $fromKits = @()
    if (Test-Path $kits) {
        $fromKits = @(Get-ChildItem $kits -Recurse -Filter signtool.exe -ErrorAction SilentlyContinue |
            Where-Object { $_.FullName -match "\\x64\\" } | Sort-Object FullName -Descending |
            ForEach-Object { $_.FullName })
    }
    $signtool = Find-Program "SIGNTOOL" "signtool.exe" $fromKits
    if (-not $signtool) { Stop-Build "signtool.exe was not found; install the Windows SDK or set SIGNTOOL." }
    Invoke-Step "Signing" $signtool (@("sign", "/sha1", $thumbprint, "/fd", "SHA256",
        "/tr", $env:WINDOWS_TIMESTAMP_URL, "/td", "SHA256") + $Files)
}

# --- the version, and what the build needs -------------------------------------------
$init = Get-Content (Join-Path $Root "desktop_app\__init__.py") -Raw
if ($init -notmatch '(?m)^__version__\s*=\s*"([^"]+)"') { Stop-Build "desktop_app\__init__.py has no __version__." }
$Version = $Matches[1]

if (-not (Test-Import "PyInstaller")) {
    Stop-Build "PyInstaller is not installed for $Python; run: $Python -m pip install -e `"${Root}[build]`""
}
if (-not (Test-Import "desktop_app, PySide6, sqlalchemy, alembic, keyring, openpyxl, tzdata")) {
    Stop-Build "Renewal Desk's dependencies are not installed for $Python; run: $Python -m pip install -e `"${Root}[build]`""
}
$iscc = Find-Program "ISCC" "ISCC.exe" @(
    (Join-Path ${env:ProgramFiles(x86)} "Inno Setup 6\ISCC.exe"),
    (Join-Path $env:ProgramFiles "Inno Setup 6\ISCC.exe"),
    (Join-Path $env:LOCALAPPDATA "Programs\Inno Setup 6\ISCC.exe")
)
if (-not $iscc) { Stop-Build "Inno Setup 6 (ISCC.exe) was not found; install it or set ISCC to its path." }

# --- freeze, and prove the bundle complete ----------------------------------------------
Write-Host "Building Renewal Desk $Version for Windows into $DistDir\renewal-desk"
$clock = [Diagnostics.Stopwatch]::StartNew()
Invoke-Step "PyInstaller" $Python @("-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
    "--distpath", $DistDir, "--workpath", $WorkDir, (Join-Path $PSScriptRoot "renewal-desk.spec"))
$buildSeconds = [math]::Round($clock.Elapsed.TotalSeconds, 1)

$App = Join-Path $DistDir "renewal-desk"
$ConsoleExe = Join-Path $App "renewal-desk.exe"
$GuiExe = Join-Path $App "renewal-desk-gui.exe"
foreach ($exe in @($ConsoleExe, $GuiExe)) {
    if (-not (Test-Path $exe)) { Stop-Build "The build produced no $exe." }
}

Write-Host "Self-test of the frozen build:"
$env:QT_QPA_PLATFORM = "offscreen"
try {
    Invoke-Step "The frozen build's self-test" $ConsoleExe @("--self-test")
} finally {
    Remove-Item Env:QT_QPA_PLATFORM -ErrorAction SilentlyContinue
}
Invoke-Signing @($ConsoleExe, $GuiExe)

# --- the installer ------------------------------------------------------------------
$iss = Join-Path $PSScriptRoot "windows\renewal-desk.iss"
Invoke-Step "Inno Setup" $iscc @("/Qp", "/DAppVersion=$Version", "/DSourceDir=$App",
    "/DOutputDir=$DistDir", $iss)
$Setup = Join-Path $DistDir "RenewalDesk-Setup-$Version.exe"
if (-not (Test-Path $Setup)) { Stop-Build "Inno Setup did not write $Setup." }
Invoke-Signing @($Setup)

$bundleMB = [math]::Round(((Get-ChildItem $App -Recurse -File | Measure-Object Length -Sum).Sum) / 1MB, 1)
$setupMB = [math]::Round((Get-Item $Setup).Length / 1MB, 1)
Write-Host "Bundle: $App ($bundleMB MB), built in $buildSeconds s"
Write-Host "Installer: $Setup ($setupMB MB)"
