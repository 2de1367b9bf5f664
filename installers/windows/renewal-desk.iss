; Renewal Desk for Windows: a per-user installer (no administrator rights) made with
; Inno Setup 6 from the PyInstaller folder dist\renewal-desk\.
;
; installers\build_windows.ps1 builds that folder and then runs:
;   ISCC.exe /DAppVersion=<version> /DSourceDir=<dist\renewal-desk> /DOutputDir=<dist> renewal-desk.iss
; The version comes from desktop_app\__init__.py through /DAppVersion; it is written
; nowhere in this file.
;
; Installs to %LOCALAPPDATA%\Programs\Renewal Desk, with a Start-menu shortcut and, if
; ticked, one on the desktop. Uninstalling removes the program and asks whether to delete
; the user's data too (%LOCALAPPDATA%\Renewal Desk: the SQLite database, its backups,
; settings and logs); the answer defaults to No. A silent uninstall keeps the data unless
; given /DELETEDATA.

#ifndef AppVersion
  #error Pass the version: ISCC /DAppVersion=X.Y.Z (build_windows.ps1 reads it from desktop_app\__init__.py)
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\renewal-desk"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif
#define AppName "Renewal Desk"
#define AppExe "renewal-desk-gui.exe"
; Where desktop_app\paths.py keeps the data on Windows (platformdirs' user data folder).
#define DataDir "{localappdata}\Renewal Desk"

[Setup]
; Never change AppId: it is how a new version finds the installed one.
AppId={{5C0E7A52-3B8F-4C71-9E0A-6D2F41B7C9A4}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Renewal Desk contributors
VersionInfoProductTextVersion={#AppVersion}
DefaultDirName={localappdata}\Programs\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
UsedUserAreasWarning=no
OutputDir={#OutputDir}
OutputBaseFilename=RenewalDesk-Setup-{#AppVersion}
SetupIconFile=..\..\resources\icons\renewal-desk.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
WizardStyle=modern
Compression=lzma2/max
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
CloseApplications=yes
RestartApplications=no

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; An older version's libraries and modules: replaced whole, so nothing stale remains.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{app}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{app}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Python's caches of the bundled migrations, written when the app first upgraded a database.
Type: filesandordirs; Name: "{app}\_internal"

[Code]
function DeleteDataRequested(): Boolean;
var
  I: Integer;
begin
  Result := False;
  for I := 1 to ParamCount do
    if CompareText(ParamStr(I), '/DELETEDATA') = 0 then
      Result := True;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  DataDir: String;
  DoDelete: Boolean;
begin
  if CurUninstallStep <> usPostUninstall then
    Exit;
  DataDir := ExpandConstant('{#DataDir}');
  if not DirExists(DataDir) then
    Exit;
  DoDelete := DeleteDataRequested();
  if (not DoDelete) and (not UninstallSilent) then
    DoDelete := MsgBox('Also delete your Renewal Desk data?' + #13#10#13#10 +
      'This removes the database, its backups, your settings and the log files in' + #13#10 +
      DataDir + #13#10#13#10 +
      'Choose No to keep them: installing Renewal Desk again picks them up.',
      mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES;
  if DoDelete then
    DelTree(DataDir, True, True, True);
end;
