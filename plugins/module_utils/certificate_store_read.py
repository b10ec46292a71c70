# -*- coding: utf-8 -*-
# Copyright: mailops.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The read of a server's certificate store (see certificate_plan's docstring for what it takes from where).

Only the PowerShell text, no import: ``exchange_info`` builds its read script with it and imports
``certificate_plan`` (and the cryptography library it needs) only when it reads certificates.
"""


# The server's certificates as Exchange lists them and as the server's own stores hold them (see the module
# docstring). Leaves $__store (an ordered dictionary) for the script that includes it; needs $server.
STORE_READ = """$__exchange = @(Get-ExchangeCertificate -Server $server | ForEach-Object {
    $__raw = ''
    if ($null -ne $_.RawData) { $__raw = [System.Convert]::ToBase64String($_.RawData) }
    [ordered]@{ raw = $__raw; thumbprint = [string]$_.Thumbprint; status = [string]$_.Status; services = [string]$_.Services }
})
$__local = $null
if ([string]$env:COMPUTERNAME -eq ([string]$server).Split('.')[0]) {
    # REQUEST before My: a request that another run completes meanwhile leaves REQUEST for My, so read in this order
    # it shows in one of them at least - in the other order it could show in neither. Listed My first.
    $__read = @(@('REQUEST', 'My') | ForEach-Object {
        $__name = $_
        Get-ChildItem -Path ('Cert:\\LocalMachine\\' + $__name) | ForEach-Object {
            [ordered]@{
                store = $__name
                thumbprint = [string]$_.Thumbprint
                raw = [System.Convert]::ToBase64String($_.RawData)
                friendly_name = [string]$_.FriendlyName
                has_private_key = [string]$_.HasPrivateKey
            }
        }
    })
    $__local = @(@($__read | Where-Object { $_.store -eq 'My' }) + @($__read | Where-Object { $_.store -eq 'REQUEST' }))
}
Import-Module WebAdministration
$__iis = @(Get-WebBinding -Name 'Default Web Site' -Protocol 'https' | ForEach-Object { [string]$_.certificateHash })
$__store = [ordered]@{
    computer = [string]$env:COMPUTERNAME
    exchange = $__exchange
    local = $__local
    iis = $__iis
    internal_transport_thumbprint = [string](Get-TransportService -Identity $server).InternalTransportCertificateThumbprint
    requests = @()
}
"""
